"""The Cochran–Mantel–Haenszel test and the Mantel–Haenszel risk difference.

For stratum k with n_tk, n_ck patients and a_k, c_k events on treatment and
control (N_k = n_tk + n_ck, m_k = a_k + c_k), the CMH statistic without
continuity correction is

    z = sum_k (E_k − a_k) / sqrt(sum_k V_k),
    E_k = n_tk m_k / N_k,  V_k = n_tk n_ck m_k (N_k − m_k) / (N_k^2 (N_k − 1)),

signed so that z > 0 when treatment has fewer events than expected (z^2 is the
usual chi-square on one degree of freedom). The common risk difference uses the
Mantel–Haenszel weights n_tk n_ck / N_k:

    RD_MH = sum_k (a_k n_ck − c_k n_tk) / N_k / sum_k n_tk n_ck / N_k.

A stratum with a single patient, or without one of the arms, carries no
information and contributes nothing. z = 0 where there is no evidence (no
stratum with both arms and both outcomes); RD is NaN where no stratum holds both
arms. References: Mantel & Haenszel 1959, J Natl Cancer Inst 22:719; Cochran
1954, Biometrics 10:417; Greenland & Robins 1985, Biometrics 41:55 (risk
difference).
"""

from __future__ import annotations

import numpy as np

from cstrial.analysis._inputs import arms, patient_array, same_shape
from cstrial.analysis.result import TestResult, no_evidence_is_zero
from cstrial.errors import CstrialError


def cmh_z(
    events: np.ndarray,
    treated: np.ndarray,
    strata: np.ndarray,
    include: np.ndarray | None = None,
) -> TestResult:
    """One-sided CMH z for fewer events on treatment, and the MH risk difference.

    Parameters
    ----------
    events : (R, n) bool, the (harmful) event.
    treated : (R, n) bool.
    strata : (R, n) int codes of the stratum (any integers; a few levels).
    include : (R, n) bool, patients in the analysis (default all).

    Returns
    -------
    z : (R,), > 0 favouring treatment.
    risk_difference : (R,), MH common risk difference, treatment − control.
    """
    events = patient_array("events", events, bool)
    treated, include = arms(treated, include, events.shape)
    strata = np.asarray(strata)
    same_shape("strata", strata, events.shape)
    if not (np.issubdtype(strata.dtype, np.integer) or strata.dtype == bool):
        raise CstrialError(
            f"strata must hold integer codes, found dtype {strata.dtype}; "
            "map the levels to integers first, e.g. np.unique(levels, return_inverse=True)[1]"
        )
    n_reps = events.shape[0]
    levels, codes = np.unique(strata, return_inverse=True)
    n_levels = len(levels)
    cell = (codes.reshape(strata.shape) + n_levels * np.arange(n_reps)[:, None]).ravel()

    def count(members: np.ndarray) -> np.ndarray:  # (R, K) counts per replicate and stratum
        return np.bincount(cell, members.ravel(), minlength=n_reps * n_levels).reshape(
            n_reps, n_levels
        )

    on_treatment = include & treated
    on_control = include & ~treated
    n_t = count(on_treatment)
    n_c = count(on_control)
    a = count(on_treatment & events)
    c = count(on_control & events)
    n = n_t + n_c
    m = a + c
    with np.errstate(divide="ignore", invalid="ignore"):
        informative = n > 1
        safe_n = np.where(informative, n, 2.0)
        expected = np.where(informative, n_t * m / safe_n, a)
        variance = np.where(
            informative, n_t * n_c * m * (n - m) / (safe_n**2 * (safe_n - 1.0)), 0.0
        )
        total_variance = variance.sum(axis=1)
        z = (expected - a).sum(axis=1) / np.sqrt(total_variance)
        safe_n = np.where(n > 0, n, 1.0)
        weight = n_t * n_c / safe_n
        risk_difference = ((a * n_c - c * n_t) / safe_n).sum(axis=1) / weight.sum(axis=1)
    return TestResult(no_evidence_is_zero(z, total_variance > 0), risk_difference)
