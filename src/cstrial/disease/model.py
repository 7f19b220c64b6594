"""The hazard of death given covariates, and the chance of dying by a horizon (to one year).

Proportional hazards in the first 30 days: the cumulative hazard of death to day
t <= 30 is H(t) = exp(eta) * G(t), with eta the linear predictor (log 30-day
cumulative hazard) and G(t) = W(t) / W(30), W a Weibull CDF (promotion-time form,
so most deaths fall in the first days). After day 30 each patient has a late
hazard of their own: H(t) = exp(eta) + exp(eta_late) * (G(t) - 1), where
G(t) - 1 = L(t) rises from 0 at day 30 to 1 at day 365, piecewise linearly (a
constant hazard to day 180 and `late_hazard_ratio_after_180` times it after),
and eta_late (`late_linear_predictor`) carries only part of the acute severity
and none of the arrest and coma risk (those are early, neurological deaths), but
age, LVEF and chronic heart failure. So late deaths depend on severity as registries of CS survivors
report, not in proportion to the 30-day hazard.

Every patient's hazard shares the shape G; a patient's late hazard differs from
the proportional one by the factor exp(late_i), late_i = eta_late_i - eta_i
(`late_log_ratio`), which `treatment.HazardCourse` applies to its pieces from day
30 on. G at death is therefore one number per patient whatever the arm, and days
follow from `inverse_timing`.

References: Yakovlev & Tsodikov 1996; Vallabhajosyula 2020 (timing of death);
Hochman 1999 (SHOCK 30 d, 6 and 12 months); Jentzer 2021 (post-discharge
mortality by SCAI stage).
"""

from __future__ import annotations

import numpy as np

from cstrial.disease.parameters import DISEASE, LATE
from cstrial.parameters import ParameterTable
from cstrial.population.sample import Patients
from cstrial.protocol.vocabulary import MODEL_HORIZON_DAYS as VOCABULARY_HORIZON

EARLY_DAYS = 30.0
LATE_SPLIT_DAYS = 180.0  # the late hazard steps down here (SHOCK: fewer deaths from 6 to 12 months)
MODEL_HORIZON_DAYS = VOCABULARY_HORIZON  # one year: the protocol's limit on endpoint horizons


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
        + p["beta_crp"] * np.log(patients["crp_mg_l"] / p["crp_reference"])
        + p["beta_lvef_per_10"] * (patients["lvef_pct"] - p["lvef_reference"]) / 10.0
        + p["beta_age_per_10y"] * (patients["age"] - p["age_reference"]) / 10.0
        + arrest_log_hazard(patients, table)
        + etiology[patients["etiology"]]
        + phenotype[patients["phenotype"]]
    )


def il6_log_hazard(il6_pg_ml: np.ndarray, table: ParameterTable = DISEASE) -> np.ndarray:
    """IL-6's contribution to the log hazard, relative to the reference level."""
    return table["beta_il6"] * np.log(il6_pg_ml / table["il6_reference"])


def arrest_log_hazard(patients: Patients, table: ParameterTable = DISEASE) -> np.ndarray:
    """Cardiac arrest's and coma's contribution to the (30-day) log hazard."""
    return (
        table["beta_arrest"] * patients["cardiac_arrest"]
        + table["beta_comatose"] * patients["comatose_after_arrest"]
    )


def late_linear_predictor(
    patients: Patients,
    eta: np.ndarray,
    table: ParameterTable = LATE,
    disease: ParameterTable = DISEASE,
) -> np.ndarray:
    """eta_late: the log cumulative hazard of death from day 30 to day 365 (if alive at 30).

    `eta` is the patient's (possibly recalibrated) 30-day linear predictor; the late
    hazard carries the fraction `late_severity_carryover` of its acute part (eta less
    the arrest and coma terms), plus age, LVEF and heart-failure terms of its own.
    """
    p = table
    acute = eta - arrest_log_hazard(patients, disease)
    return (
        p["late_log_h_reference"]
        + p["late_severity_carryover"] * (acute - p["late_acute_reference"])
        + p["late_beta_age_per_10y"] * (patients["age"] - disease["age_reference"]) / 10.0
        + p["late_beta_lvef_per_10"] * (patients["lvef_pct"] - disease["lvef_reference"]) / 10.0
        + p["late_beta_etiology_hf"] * (patients["etiology"] == 1)
    )


def late_log_ratio(
    patients: Patients,
    eta: np.ndarray,
    table: ParameterTable = LATE,
    disease: ParameterTable = DISEASE,
) -> np.ndarray:
    """late_i = eta_late_i - eta_i: the log factor on G's increments after day 30.

    With it, H_i(t) = exp(eta_i) * (min(G(t), 1) + exp(late_i) * max(G(t) - 1, 0)).
    """
    return late_linear_predictor(patients, eta, table, disease) - eta


def cumulative_hazard(
    h30: np.ndarray,
    days: float | np.ndarray,
    late: np.ndarray | float = 0.0,
    disease: ParameterTable = DISEASE,
    late_table: ParameterTable = LATE,
) -> np.ndarray:
    """H(t) under control care, from the 30-day cumulative hazard and the late log ratio."""
    g = timing_fraction(days, disease, late_table)
    return h30 * (np.minimum(g, 1.0) + np.exp(late) * np.maximum(g - 1.0, 0.0))


def timing_fraction(
    days: np.ndarray | float, table: ParameterTable = DISEASE, late_table: ParameterTable = LATE
) -> np.ndarray:
    """G(t): the baseline cumulative-hazard shape, 1 at day 30 and 2 at day 365 (and beyond)."""
    t = np.minimum(np.asarray(days, dtype=float), MODEL_HORIZON_DAYS)
    shape, scale = _weibull(table)
    early = -np.expm1(-((np.minimum(t, EARLY_DAYS) / scale) ** shape)) / _w30(table)
    r = late_table["late_hazard_ratio_after_180"]
    late = (
        np.clip(t, EARLY_DAYS, LATE_SPLIT_DAYS)
        - EARLY_DAYS
        + r * np.maximum(t - LATE_SPLIT_DAYS, 0.0)
    ) / _late_span(r)
    return early + late


def inverse_timing(
    y: np.ndarray, table: ParameterTable = DISEASE, late_table: ParameterTable = LATE
) -> np.ndarray:
    """The day t with G(t) = y; inf where y exceeds G(365) = 2.

    The Weibull inverse (a log and a power) is evaluated only where y <= 1 (deaths
    by day 30): element by element, so the days are those of the whole-array form.
    """
    shape, scale = _weibull(table)
    r = late_table["late_hazard_ratio_after_180"]
    y = np.asarray(y, dtype=float)
    span = (y - 1.0) * _late_span(r)  # days of the first piece's rate after day 30
    first = LATE_SPLIT_DAYS - EARLY_DAYS
    with np.errstate(invalid="ignore"):
        late = np.where(
            span <= first,
            EARLY_DAYS + span,
            LATE_SPLIT_DAYS + (span - first) / r,
        )
    days = np.where(y <= 2.0, np.minimum(late, MODEL_HORIZON_DAYS), np.inf)
    early = np.flatnonzero(y <= 1.0)
    inner = 1.0 - y.reshape(-1)[early] * _w30(table)
    with np.errstate(divide="ignore"):
        early_days = scale * (-np.log(inner)) ** (1.0 / shape)
    days.reshape(-1)[early] = np.minimum(early_days, EARLY_DAYS)
    return days


def death_days(
    y: np.ndarray, table: ParameterTable = DISEASE, late_table: ParameterTable = LATE
) -> np.ndarray:
    """Days of death from G at death (inf: alive at the model horizon, day 365)."""
    days = inverse_timing(y, table, late_table)
    return np.where(days <= MODEL_HORIZON_DAYS, days, np.inf)


def died_by(
    y: np.ndarray,
    days: float,
    table: ParameterTable = DISEASE,
    late_table: ParameterTable = LATE,
) -> np.ndarray:
    """Whether inverse_timing(y) <= days (day capped at 365), without inverting most of y.

    Only values within 1e-9 (relative) of G(days) are inverted; the others are
    decided by G's monotonicity, far beyond the float error of the inverse. So a
    binary endpoint's deaths are those of the days, at a fraction of the cost.
    """
    days = min(float(days), MODEL_HORIZON_DAYS)
    g = float(timing_fraction(days, table, late_table))
    low, high = g * (1.0 - 1e-9), g * (1.0 + 1e-9)
    died = y < low
    if np.count_nonzero(y <= high) > np.count_nonzero(died):
        near = np.flatnonzero((y <= high) & ~died)
        died.reshape(-1)[near] = inverse_timing(y.reshape(-1)[near], table, late_table) <= days
    return died


def risk_by(cumulative_hazard: np.ndarray) -> np.ndarray:
    """Probability of death given the cumulative hazard: 1 - exp(-H)."""
    return -np.expm1(-cumulative_hazard)


def _late_span(r: float) -> float:
    """Days-equivalents of first-piece hazard from day 30 to 365 (normalises L to 1)."""
    return (LATE_SPLIT_DAYS - EARLY_DAYS) + r * (MODEL_HORIZON_DAYS - LATE_SPLIT_DAYS)


def _weibull(table: ParameterTable) -> tuple[float, float]:
    return table["death_timing_weibull_shape"], table["death_timing_weibull_scale_days"]


def _w30(table: ParameterTable) -> float:
    shape, scale = _weibull(table)
    return float(-np.expm1(-((EARLY_DAYS / scale) ** shape)))
