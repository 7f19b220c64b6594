"""Group-sequential bounds on the effect scale: the observed effect that crosses a z bound.

A committee reads "the trial stops for efficacy at the first interim if the 30-day
mortality is 4.9 points lower on treatment", not "if z > 3.73". These functions turn
z bounds (z > 0 favouring treatment, as everywhere in cstrial) into that effect, at
the planned information of each look, as rpact's `summary()` does in its "Efficacy
boundary (t)" rows (`criticalValuesEffectScale`, `futilityBoundsEffectScale`).

* Risk difference (treatment − control) for the pooled two-proportion z test: the
  treatment risk p1 that solves (p1 − p2) / SE0 = −z, SE0 the pooled (null) standard
  error sqrt(p̄(1 − p̄)(1/n1 + 1/n2)), p̄ = (n1 p1 + n2 p2)/(n1 + n2), with p2 the
  assumed control risk. This is rpact's Farrington–Manning root at thetaH0 = 0
  (`.getEffectScaleBoundaryDataRates`), whose restricted estimate is the pooled risk.
* Hazard ratio (treatment / control) for the log-rank test with D deaths and
  allocation a = treatment : control: exp(−z (1 + a) / sqrt(a D)), rpact's
  `.getEffectScaleBoundaryDataSurvival` with directionUpper = FALSE.

References: Jennison & Turnbull 2000, ch. 3; Farrington & Manning 1990, Stat Med
9:1447; Schoenfeld 1981, Biometrika 68:316; rpact 3.3.4 (Wassmer & Pahlke).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq


def risk_difference_bounds(
    z: ArrayLike,
    n_control: ArrayLike,
    n_treatment: ArrayLike,
    control_risk: float,
) -> np.ndarray:
    """The risk difference (treatment − control) at which the pooled z equals each bound.

    `n_control`, `n_treatment`: patients per arm at each look; `control_risk`: the
    assumed control risk. NaN where no treatment risk in [0, 1] reaches the bound
    (an infinite bound, e.g. no early futility, or a bound beyond what the look's
    patients can show).
    """
    bounds = np.atleast_1d(np.asarray(z, dtype=float))
    controls = np.atleast_1d(np.asarray(n_control, dtype=float))
    treated = np.atleast_1d(np.asarray(n_treatment, dtype=float))
    out = np.full(bounds.size, math.nan)
    p2 = float(control_risk)
    for k, (bound, n2, n1) in enumerate(zip(bounds, controls, treated, strict=True)):
        if not math.isfinite(bound) or n1 <= 0 or n2 <= 0:
            continue

        def gap(p1: float, bound: float = bound, n1: float = n1, n2: float = n2) -> float:
            pooled = (n1 * p1 + n2 * p2) / (n1 + n2)
            se = math.sqrt(max(pooled * (1 - pooled), 1e-300) * (1 / n1 + 1 / n2))
            return (p2 - p1) / se - bound  # z > 0 favours treatment: a lower treatment risk

        lo, hi = 0.0, 1.0
        if gap(lo) * gap(hi) > 0:
            continue
        out[k] = brentq(gap, lo, hi, xtol=1e-14, rtol=1e-14) - p2
    return out


def hazard_ratio_bounds(
    z: ArrayLike, deaths: ArrayLike, allocation_ratio: float = 1.0
) -> np.ndarray:
    """The hazard ratio (treatment / control) at which the log-rank z equals each bound.

    `deaths`: the planned deaths at each look; `allocation_ratio`: treatment : control.
    NaN for an infinite bound.
    """
    a = float(allocation_ratio)
    bounds = np.asarray(z, dtype=float)
    events = np.asarray(deaths, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.exp(-bounds * (1 + a) / np.sqrt(a * events))
    return np.where(np.isfinite(bounds), out, math.nan)
