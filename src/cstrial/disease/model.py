"""The hazard of death given covariates, and the chance of dying by a horizon.

Proportional hazards: the cumulative hazard of death to day t is
H(t) = exp(eta) * G(t), with eta the linear predictor (log 30-day cumulative
hazard) and G the baseline shape: G(t) = W(t) / W(30) up to day 30, W a Weibull
CDF (promotion-time form, so most deaths fall in the first days), then a
constant hazard to day 180, G(t) = 1 + kappa (t - 30) / 150.
References: Yakovlev & Tsodikov 1996; Vallabhajosyula 2020; Hochman 1999.
"""

from __future__ import annotations

import numpy as np

from cstrial.disease.parameters import DISEASE, LATE
from cstrial.parameters import ParameterTable
from cstrial.population.sample import Patients

EARLY_DAYS = 30.0
MODEL_HORIZON_DAYS = 180.0


def linear_predictor(patients: Patients, table: ParameterTable = DISEASE) -> np.ndarray:
    """eta: the log 30-day cumulative hazard of death under control care."""
    p = table
    stage = np.array([p["log_h30_scai_c"], p["log_h30_scai_d"], p["log_h30_scai_e"]])
    etiology = np.array([0.0, p["beta_etiology_hf"], p["beta_etiology_other"]])
    phenotype = np.array(
        [0.0, p["beta_phenotype_cardiorenal"], p["beta_phenotype_cardiometabolic"]]
    )
    return (
        stage[patients["scai_stage"]]
        + il6_log_hazard(patients["il6_pg_ml"], table)
        + p["beta_lactate"] * np.log(patients["lactate_mmol_l"] / p["lactate_reference"])
        + p["beta_age_per_10y"] * (patients["age"] - p["age_reference"]) / 10.0
        + p["beta_arrest"] * patients["cardiac_arrest"]
        + p["beta_comatose"] * patients["comatose_after_arrest"]
        + etiology[patients["etiology"]]
        + phenotype[patients["phenotype"]]
    )


def il6_log_hazard(il6_pg_ml: np.ndarray, table: ParameterTable = DISEASE) -> np.ndarray:
    """IL-6's contribution to the log hazard, relative to the reference level."""
    return table["beta_il6"] * np.log(il6_pg_ml / table["il6_reference"])


def timing_fraction(days: np.ndarray | float, table: ParameterTable = DISEASE) -> np.ndarray:
    """G(t): the baseline cumulative-hazard shape, 1 at day 30 (days beyond 180 count as 180)."""
    t = np.minimum(np.asarray(days, dtype=float), MODEL_HORIZON_DAYS)
    shape, scale = _weibull(table)
    early = -np.expm1(-((np.minimum(t, EARLY_DAYS) / scale) ** shape)) / _w30(table)
    late = (
        LATE["late_hazard_ratio_to_30d"]
        * np.maximum(t - EARLY_DAYS, 0.0)
        / (MODEL_HORIZON_DAYS - EARLY_DAYS)
    )
    return early + late


def inverse_timing(y: np.ndarray, table: ParameterTable = DISEASE) -> np.ndarray:
    """The day t with G(t) = y; inf where y exceeds G(180).

    The Weibull inverse (a log and a power) is evaluated only where y <= 1 (deaths
    by day 30): element by element, so the days are those of the whole-array form.
    """
    shape, scale = _weibull(table)
    kappa = LATE["late_hazard_ratio_to_30d"]
    y = np.asarray(y, dtype=float)
    late = EARLY_DAYS + (y - 1.0) / kappa * (MODEL_HORIZON_DAYS - EARLY_DAYS)
    days = np.where(y <= 1.0 + kappa, late, np.inf)
    early = np.flatnonzero(y <= 1.0)
    inner = 1.0 - y.reshape(-1)[early] * _w30(table)
    with np.errstate(divide="ignore"):
        early_days = scale * (-np.log(inner)) ** (1.0 / shape)
    days.reshape(-1)[early] = np.minimum(early_days, EARLY_DAYS)
    return days


def death_days(y: np.ndarray, table: ParameterTable = DISEASE) -> np.ndarray:
    """Days of death from G at death (inf: alive at the model horizon, day 180)."""
    days = inverse_timing(y, table)
    return np.where(days <= MODEL_HORIZON_DAYS, days, np.inf)


def died_by(y: np.ndarray, days: float, table: ParameterTable = DISEASE) -> np.ndarray:
    """Whether inverse_timing(y) <= days (day capped at 180), without inverting most of y.

    Only values within 1e-9 (relative) of G(days) are inverted; the others are
    decided by G's monotonicity, far beyond the float error of the inverse. So a
    binary endpoint's deaths are those of the days, at a fraction of the cost.
    """
    days = min(float(days), MODEL_HORIZON_DAYS)
    g = float(timing_fraction(days, table))
    low, high = g * (1.0 - 1e-9), g * (1.0 + 1e-9)
    died = y < low
    if np.count_nonzero(y <= high) > np.count_nonzero(died):
        near = np.flatnonzero((y <= high) & ~died)
        died.reshape(-1)[near] = inverse_timing(y.reshape(-1)[near], table) <= days
    return died


def risk_by(cumulative_hazard: np.ndarray) -> np.ndarray:
    """Probability of death given the cumulative hazard: 1 - exp(-H)."""
    return -np.expm1(-cumulative_hazard)


def _weibull(table: ParameterTable) -> tuple[float, float]:
    return table["death_timing_weibull_shape"], table["death_timing_weibull_scale_days"]


def _w30(table: ParameterTable) -> float:
    shape, scale = _weibull(table)
    return float(-np.expm1(-((EARLY_DAYS / scale) ** shape)))
