"""Operating characteristics of a group-sequential design, computed exactly.

Power, per-look stopping probabilities under H0 and under an alternative, expected
information, and the conditional power used by conditional-power futility rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from cstrial.design.boundaries import Boundaries
from cstrial.design.integration import crossing_probabilities
from cstrial.errors import CstrialError


@dataclass(frozen=True, eq=False)
class DesignCharacteristics:
    """Exact operating characteristics of `Boundaries` at a drift (E[Z_K]).

    Per-look arrays have one entry per look. ``futility_per_look`` follows gsDesign: at
    interim looks it is the probability of stopping for futility; at the final look
    (where the futility bound equals the efficacy bound) it is the probability of
    reaching the final look and not rejecting, so ``reject + futility`` sums to 1. A
    design without futility bounds has zeros at the interim looks.

    Under H0 the futility bounds are obeyed (what happens if the trial follows its
    futility rule), also when they are non-binding: ``type_one_error`` is then at most
    alpha, while ``type_one_error_ignoring_futility`` is the alpha the efficacy bounds
    were built for (equal to alpha for non-binding designs, above it for binding ones).

    ``expected_information_*`` are expected information at stopping as a fraction of
    the maximum information; ``expected_information_*_vs_fixed`` are the same relative
    to the information of a fixed design with the same alpha and power, i.e. times the
    inflation factor (rpact ``averageSampleNumber0`` / ``averageSampleNumber1``).
    """

    drift: float
    power: float
    reject_per_look: np.ndarray
    futility_per_look: np.ndarray
    reject_per_look_h0: np.ndarray
    futility_per_look_h0: np.ndarray
    type_one_error: float
    type_one_error_ignoring_futility: float
    expected_information_h0: float
    expected_information_h1: float
    expected_information_h0_vs_fixed: float
    expected_information_h1_vs_fixed: float


def _expected_fraction(t: np.ndarray, stop: np.ndarray) -> float:
    """E[t at stopping]: interim stops at t_k, everything else at t_K = 1."""
    interim = stop[:-1]
    return float(np.dot(t[:-1], interim) + t[-1] * (1.0 - interim.sum()))


def _probabilities(boundaries: Boundaries, drift: float) -> tuple[np.ndarray, np.ndarray]:
    upper, lower = crossing_probabilities(
        boundaries.efficacy_z, boundaries.futility_z, boundaries.information, drift
    )
    if boundaries.futility_z is None:
        # no futility bound: non-rejection at the final look is reported as "futility"
        lower = np.zeros_like(lower)
        lower[-1] = max(0.0, 1.0 - upper.sum())
    return upper, lower


def power_at(boundaries: Boundaries, drift: float) -> float:
    """Probability of crossing an efficacy bound at any look when E[Z_K] = ``drift``.

    Futility bounds (if any) are obeyed.

    References: Jennison & Turnbull 2000, ch. 19.
    """
    upper, _ = crossing_probabilities(
        boundaries.efficacy_z, boundaries.futility_z, boundaries.information, float(drift)
    )
    return float(upper.sum())


def design_characteristics(
    boundaries: Boundaries, drift: float | None = None
) -> DesignCharacteristics:
    """Power, stopping probabilities and expected information of a design.

    ``drift`` is E[Z_K] under the alternative; by default the design's own drift (so
    that the power is 1 − β).

    References: Jennison & Turnbull 2000, ch. 19.
    """
    theta = boundaries.drift if drift is None else float(drift)
    if not math.isfinite(theta):
        raise CstrialError(f"drift must be finite, found {drift}")
    t = boundaries.information
    upper1, lower1 = _probabilities(boundaries, theta)
    upper0, lower0 = _probabilities(boundaries, 0.0)
    ignoring, _ = crossing_probabilities(boundaries.efficacy_z, None, t, 0.0)
    e0 = _expected_fraction(t, upper0 + lower0)
    e1 = _expected_fraction(t, upper1 + lower1)
    inflation = boundaries.inflation_factor
    return DesignCharacteristics(
        drift=theta,
        power=float(upper1.sum()),
        reject_per_look=upper1,
        futility_per_look=lower1,
        reject_per_look_h0=upper0,
        futility_per_look_h0=lower0,
        type_one_error=float(upper0.sum()),
        type_one_error_ignoring_futility=float(ignoring.sum()),
        expected_information_h0=e0,
        expected_information_h1=e1,
        expected_information_h0_vs_fixed=e0 * inflation,
        expected_information_h1_vs_fixed=e1 * inflation,
    )


def conditional_power(
    z: ArrayLike,
    information_fraction: float | ArrayLike,
    efficacy_final_z: float,
    drift: float | ArrayLike,
) -> np.ndarray:
    """Conditional probability of crossing the final efficacy bound given the interim z.

    With the B-value B(t) = Z(t)·√t, B(1) − B(t) ~ N(drift·(1 − t), 1 − t), so

        CP = 1 − Φ((c_K − z·√t − drift·(1 − t)) / √(1 − t)),

    where c_K is the final efficacy bound and ``drift`` is E[Z_K] (the design drift for
    "CP under H1", z/√t for "CP under the current trend", 0 for "under H0"). Interim
    looks between t and the final one are ignored. Vectorised over ``z`` (and the other
    arguments, by broadcasting).

    References: Lan & Wittes 1988; Jennison & Turnbull 2000, §10.2.
    """
    zz = np.asarray(z, dtype=float)
    tt = np.asarray(information_fraction, dtype=float)
    if np.any(tt <= 0.0) or np.any(tt >= 1.0):
        raise CstrialError(
            f"information_fraction must lie in (0, 1) for conditional power, found {tt}"
        )
    theta = np.asarray(drift, dtype=float)
    remaining = 1.0 - tt
    return ndtr((zz * np.sqrt(tt) + theta * remaining - efficacy_final_z) / np.sqrt(remaining))


def fixed_design_drift(alpha: float, beta: float) -> float:
    """z_{1−α} + z_{1−β}: E[Z] giving power 1 − β to a one-sided fixed-sample test.

    References: Jennison & Turnbull 2000, §3.3.
    """
    return float(-ndtri(alpha) - ndtri(beta))
