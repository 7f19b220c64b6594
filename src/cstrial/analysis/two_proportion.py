"""The pooled two-proportion z-test, vectorised over replicate trials and looks."""

from __future__ import annotations

import numpy as np

from cstrial.analysis.result import TestResult, no_evidence_is_zero


def two_proportion_z(
    events_control: np.ndarray,
    n_control: np.ndarray,
    events_treatment: np.ndarray,
    n_treatment: np.ndarray,
    continuity_correction: bool = False,
) -> TestResult:
    """One-sided pooled z for fewer events on treatment, and the risk difference.

    z = (p_c - p_t) / sqrt(p (1 - p) (1/n_c + 1/n_t)), p the pooled proportion, so
    z > 0 favours treatment; estimate = p_t - p_c. Where the pooled proportion is
    0 or 1 (or an arm is empty) there is no evidence and z = 0. With
    `continuity_correction` (Yates, as R's ``prop.test(correct = TRUE)``):
    z = sign(d) · max(|d| − (1/n_c + 1/n_t)/2, 0) / se, d = p_c − p_t; the estimate
    is unchanged.
    References: Fleiss, Levin & Paik 2003, §4.3; Yates 1934; rpact getSimulationRates
    (normalApproximation).
    """
    e_c = np.asarray(events_control, dtype=float)
    e_t = np.asarray(events_treatment, dtype=float)
    n_c = np.asarray(n_control, dtype=float)
    n_t = np.asarray(n_treatment, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_c = e_c / n_c
        p_t = e_t / n_t
        pooled = (e_c + e_t) / (n_c + n_t)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t))
        difference = p_c - p_t
        if continuity_correction:
            shrunk = np.maximum(np.abs(difference) - 0.5 * (1.0 / n_c + 1.0 / n_t), 0.0)
            difference = np.sign(difference) * shrunk
        z = difference / se
    return TestResult(no_evidence_is_zero(z), p_t - p_c)
