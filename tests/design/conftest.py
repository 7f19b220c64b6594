"""An independent reference for group-sequential probabilities: scipy's multivariate normal.

scipy.stats.multivariate_normal.cdf integrates the joint normal of (Z_1..Z_k) by Genz's
quasi-Monte Carlo method, which shares nothing with the recursive grid integration of
`cstrial.design.integration`; agreement to ~1e-7 is therefore a real check.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal


def canonical_cov(t: np.ndarray) -> np.ndarray:
    """Cov(Z_j, Z_k) = sqrt(t_j / t_k) for t_j <= t_k (Jennison & Turnbull 2000, ch. 3)."""
    t = np.asarray(t, dtype=float)
    return np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))


def _box(mean: np.ndarray, cov: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    if np.any(lower >= upper):
        return 0.0
    dist = multivariate_normal(
        mean=mean,
        cov=cov,
        allow_singular=False,
        maxpts=400_000 * mean.size,
        abseps=1e-9,
        releps=1e-9,
        seed=20261121,
    )
    return float(dist.cdf(upper, lower_limit=lower))


def mvn_crossing(efficacy_z, futility_z, t, drift) -> tuple[np.ndarray, np.ndarray]:
    """First-crossing probabilities per look by box probabilities of the joint normal.

    P(a_j < Z_j < b_j for j < k, Z_k >= b_k) = P(box_{k-1}) - P(box_{k-1}, Z_k < b_k).
    """
    t = np.asarray(t, dtype=float)
    t = t / t[-1]
    b = np.asarray(efficacy_z, dtype=float)
    a = np.full(t.size, -np.inf) if futility_z is None else np.asarray(futility_z, dtype=float)
    mean_all = drift * np.sqrt(t)
    cov_all = canonical_cov(t)
    upper = np.zeros(t.size)
    lower = np.zeros(t.size)
    for k in range(t.size):
        m, c = mean_all[: k + 1], cov_all[: k + 1, : k + 1]
        lo_prev, hi_prev = np.minimum(a[:k], b[:k]), b[:k]
        reach = 1.0 if k == 0 else _box(m[:k], c[:k, :k], lo_prev, hi_prev)
        below_b = _box(m, c, np.append(lo_prev, -np.inf), np.append(hi_prev, b[k]))
        below_a = _box(m, c, np.append(lo_prev, -np.inf), np.append(hi_prev, min(a[k], b[k])))
        upper[k] = reach - below_b
        lower[k] = below_a
    return upper, lower


@pytest.fixture
def mvn():
    """The independent multivariate-normal reference, as a fixture."""
    return mvn_crossing
