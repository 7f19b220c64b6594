"""The hazard of death given covariates, and the chance of dying by a horizon.

Proportional hazards in promotion-time form: the cumulative hazard of death to
day t is H(t) = exp(eta) * G(t) / G(30), with eta the linear predictor (log
30-day cumulative hazard) and G a Weibull CDF, so that most deaths fall in the
first days (References: Yakovlev & Tsodikov 1996; Vallabhajosyula 2020).
"""

from __future__ import annotations

import numpy as np

from cstrial.disease.parameters import DISEASE
from cstrial.parameters import ParameterTable
from cstrial.population.sample import Patients

MODEL_HORIZON_DAYS = 30.0


def linear_predictor(patients: Patients, table: ParameterTable = DISEASE) -> np.ndarray:
    """eta: the log 30-day cumulative hazard of death under control care."""
    p = table
    stage = np.array([p["log_h30_scai_c"], p["log_h30_scai_d"], p["log_h30_scai_e"]])
    etiology = np.array([0.0, p["beta_etiology_hf"], p["beta_etiology_other"]])
    return (
        stage[patients["scai_stage"]]
        + il6_log_hazard(patients["il6_pg_ml"], table)
        + p["beta_lactate"] * np.log(patients["lactate_mmol_l"] / p["lactate_reference"])
        + p["beta_age_per_10y"] * (patients["age"] - p["age_reference"]) / 10.0
        + p["beta_arrest"] * patients["cardiac_arrest"]
        + p["beta_comatose"] * patients["comatose_after_arrest"]
        + etiology[patients["etiology"]]
    )


def il6_log_hazard(il6_pg_ml: np.ndarray, table: ParameterTable = DISEASE) -> np.ndarray:
    """IL-6's contribution to the log hazard, relative to the reference level."""
    return table["beta_il6"] * np.log(il6_pg_ml / table["il6_reference"])


def timing_fraction(days: np.ndarray | float, table: ParameterTable = DISEASE) -> np.ndarray:
    """G(t)/G(30): the share of the 30-day cumulative hazard accrued by day t."""
    shape = table["death_timing_weibull_shape"]
    scale = table["death_timing_weibull_scale_days"]
    t = np.minimum(np.asarray(days, dtype=float), MODEL_HORIZON_DAYS)
    g = -np.expm1(-((t / scale) ** shape))
    g30 = -np.expm1(-((MODEL_HORIZON_DAYS / scale) ** shape))
    return g / g30


def risk_by(cumulative_hazard: np.ndarray) -> np.ndarray:
    """Probability of death given the cumulative hazard: 1 - exp(-H)."""
    return -np.expm1(-cumulative_hazard)
