"""Harms of immune blockade: infections the arm causes, and the deaths they bring.

An arm with `infection_hazard_ratio` r > 1 adds infections at (r - 1) times the
baseline hazard of sepsis in cardiogenic shock, constant over the first 30 days;
after such an infection the patient's hazard of death is multiplied by
`death_hazard_ratio_after_infection`. Control care keeps the calibrated model,
whose mortality already includes the infections of usual care.
"""

from __future__ import annotations

import numpy as np

from cstrial.parameters import Parameter, ParameterTable
from cstrial.treatment.effects import HazardCourse

INFECTION_DAYS = 30.0

HARMS = ParameterTable(
    "Harms of immune blockade",
    [
        Parameter(
            "sepsis_30d_incidence",
            0.205,
            "proportion",
            "IABP-SHOCK II control arm: sepsis 20.5% (calibration.md Gap 5); the baseline hazard "
            "is -ln(1 - 0.205) / 30 per day",
            0.1,
            0.39,
            "sepsis in CS trial arms: ECLS-SHOCK 10%, CULPRIT-SHOCK 18%, SHOCK 19%, ECMO-CS 39% (J Am Heart Assoc 2024 review of CS trials, Table 2, PMC11009990)",
        ),
        Parameter(
            "death_hazard_ratio_after_infection",
            2.0,
            "hazard ratio",
            "[assumption] not retrieved; SHOCK: non-cardiac deaths came later and were septic "
            "in 29% (Acute Card Care 2007)",
            1.0,
            3.0,
            "[assumption] from no excess lethality to three times the hazard",
        ),
    ],
)


def excess_infection_day(
    rng: np.random.Generator, n: int, infection_hazard_ratio: float, table: ParameterTable = HARMS
) -> np.ndarray:
    """Day of an infection caused by the arm, for n patients (inf if none by day 30)."""
    rate = (
        (infection_hazard_ratio - 1.0) * -np.log1p(-table["sepsis_30d_incidence"]) / INFECTION_DAYS
    )
    day = rng.standard_exponential(n) / rate
    return np.where(day <= INFECTION_DAYS, day, np.inf)


def death_day_with_infection(
    course: HazardCourse,
    exposure: np.ndarray,
    death_day: np.ndarray,
    infection_day: np.ndarray,
    horizon_days: float,
    table: ParameterTable = HARMS,
) -> np.ndarray:
    """Day of death once infections before death raise the hazard from their day on.

    H(t) = H_arm(t) before the infection day x, H_arm(x) + theta (H_arm(t) - H_arm(x))
    after it; the patient dies when H reaches their unit-exponential `exposure`.
    """
    out = death_day.copy()
    hit = np.flatnonzero(infection_day < death_day)
    if hit.size == 0:
        return out
    sub = course.subset(hit)
    at_infection = sub.cumulative_hazard_at(infection_day[hit])
    theta = table["death_hazard_ratio_after_infection"]
    shifted = at_infection + (exposure[hit] - at_infection) / theta
    out[hit] = sub.death_time(shifted, horizon_days)
    return out
