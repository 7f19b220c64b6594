"""Calendar time: when each patient is enrolled and when each analysis happens.

Accrual is deterministic at `patients_per_month`, optionally ramping up linearly
from zero over `ramp_up_months` (as rpact's piecewise accrual intensity).
"""

from __future__ import annotations

import numpy as np

DAYS_PER_MONTH = 365.25 / 12


def enrolment_months(
    n_patients: int, patients_per_month: float, ramp_up_months: float = 0.0
) -> np.ndarray:
    """Month at which patient i (1-based) is enrolled, for i = 1..n_patients."""
    i = np.arange(1, n_patients + 1, dtype=float)
    return months_to_enrol(i, patients_per_month, ramp_up_months)


def months_to_enrol(
    count: np.ndarray | float, patients_per_month: float, ramp_up_months: float = 0.0
) -> np.ndarray:
    """Calendar month by which `count` patients have been enrolled (inverse of `enrolled_by`)."""
    count = np.asarray(count, dtype=float)
    rate, ramp = patients_per_month, ramp_up_months
    in_ramp = rate * ramp / 2.0
    if ramp == 0:
        return count / rate
    return np.where(
        count <= in_ramp, np.sqrt(2.0 * ramp * count / rate), ramp + (count - in_ramp) / rate
    )


def enrolled_by(
    months: np.ndarray | float, patients_per_month: float, ramp_up_months: float = 0.0
) -> np.ndarray:
    """Number of patients enrolled by calendar month `months` (not capped)."""
    t = np.asarray(months, dtype=float)
    rate, ramp = patients_per_month, ramp_up_months
    if ramp == 0:
        return np.floor(rate * t + 1e-9)
    return np.floor(
        np.where(t <= ramp, rate * t**2 / (2.0 * ramp), rate * ramp / 2.0 + rate * (t - ramp))
        + 1e-9
    )
