"""The Wilcoxon–Mann–Whitney test and probabilistic index, vectorised over replicate trials."""

from __future__ import annotations

import numpy as np

from cstrial.analysis._inputs import arms, patient_array
from cstrial.analysis.result import TestResult, no_evidence_is_zero
from cstrial.errors import CstrialError


def mann_whitney_z(
    values: np.ndarray,
    treated: np.ndarray,
    include: np.ndarray | None = None,
    higher_is_better: bool = True,
) -> TestResult:
    """One-sided z for better values on treatment, and the probabilistic index.

    Parameters
    ----------
    values : (R, n) float, the outcome; must not be NaN for included patients.
    treated : (R, n) bool.
    include : (R, n) bool, patients in the analysis (default all).
    higher_is_better : orientation of `values`.

    Returns
    -------
    z : (R,) the normal approximation to the rank-sum test with the tie-corrected
        variance and **no continuity correction** (as scipy's
        ``mannwhitneyu(method="asymptotic", use_continuity=False)``), signed so that
        z > 0 when treatment tends to better values. z = 0 where an arm is empty or
        every included value is tied (no evidence).
    probabilistic_index : (R,) P(treatment better than control) + ½ P(tie): with
        ``higher_is_better`` that is P(X_t > X_c) + ½ P(X_t = X_c), otherwise
        P(X_t < X_c) + ½ P(X_t = X_c); so it exceeds 0.5 exactly when z > 0.
        NaN where an arm is empty.

    Ranks are mid-ranks among the included patients of each replicate, computed by
    one sort along the patient axis and run lengths of equal sorted values.
    References: Mann & Whitney 1947; Lehmann 1975, Nonparametrics (ties);
    Thas et al. 2012, JRSS-B 74:623 (probabilistic index).
    """
    values = patient_array("values", values)
    treated, include = arms(treated, include, values.shape)
    if np.isnan(values[include]).any():
        raise CstrialError(
            "values is NaN for some included patients; drop them with include=, "
            "or impute a worst-rank value before the test"
        )
    n_patients = values.shape[1]
    # Excluded patients become NaN, which sorts last: the included occupy the first
    # N positions of each sorted row, and every NaN forms its own run of length 1.
    masked = np.where(include, values, np.nan)
    order = np.argsort(masked, axis=1, kind="stable")
    ordered = np.take_along_axis(masked, order, axis=1)
    position = np.broadcast_to(np.arange(n_patients), ordered.shape)
    starts = np.ones(ordered.shape, bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones(ordered.shape, bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, position, n_patients - 1)[:, ::-1], axis=1)[:, ::-1]
    run = last - first + 1
    ranks = np.empty(ordered.shape)
    np.put_along_axis(ranks, order, (first + last) / 2.0 + 1.0, axis=1)
    # sum over tie groups of t^3 - t, written as a sum over their members of t^2 - 1
    tie_term = (run.astype(float) ** 2 - 1.0).sum(axis=1)

    on_treatment = treated & include
    n_t = on_treatment.sum(axis=1).astype(float)
    n_c = (include & ~treated).sum(axis=1).astype(float)
    n = n_t + n_c
    u_t = np.where(on_treatment, ranks, 0.0).sum(axis=1) - n_t * (n_t + 1.0) / 2.0
    pairs = n_t * n_c
    # U counts treatment-over-control pairs with higher values; orient it to "better"
    u_better = u_t if higher_is_better else pairs - u_t
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = pairs / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))
        z = (u_better - pairs / 2.0) / np.sqrt(variance)
        index = u_better / pairs
    return TestResult(no_evidence_is_zero(z, variance > 0), index)
