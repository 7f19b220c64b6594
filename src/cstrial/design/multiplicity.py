"""Many-to-one comparisons with a shared control: Dunnett bounds, intersection tests, closure.

Multi-arm trials (tocilizumab and anakinra against one control) test M elementary
hypotheses H_i: θ_i ≤ 0, one per treatment arm, with one-sided z statistics Z_i that are
correlated because every comparison uses the same control patients. With allocation
shares (w_0 control, w_1..w_M treatments) the correlation is

    ρ_ij = λ_i λ_j,   λ_i = √(w_i / (w_0 + w_i))                          (Dunnett 1955)

a one-factor structure: Z_i = λ_i X + √(1 − λ_i²) E_i with X (the control's contribution)
and E_1..E_M independent standard normals. Two populations, the full population F and a
subgroup S ⊂ F, have the same structure with corr(Z_S, Z_F) = √(n_S/n_F) (Spiessens &
Debois 2010), i.e. loadings λ_S = λ_F = (n_S/n_F)^(1/4).

This module gives

- `many_to_one_correlation`: the correlation matrix above, planned or observed;
- `dunnett_group_sequential_bounds`: single-step group-sequential Dunnett bounds c_k
  (reject H_i at look k if Z_ik ≥ c_k) with familywise error exactly alpha under the
  global null (Magirr, Jaki & Whitehead 2012), from scipy's multivariate normal;
- `intersection_p_values`: stage-wise p-values of an intersection hypothesis H_I by the
  Bonferroni, Simes, Sidak, Dunnett or Spiessens–Debois test, vectorised over replicates;
- `closed_combination_test`: the closed test over all intersections with the
  inverse-normal combination of stage-wise p-values across looks (Bauer & Kieser 1999;
  Wassmer & Brannath 2016, ch. 11), exactly as rpact's ``getClosedCombinationTestResults``
  and ``getSimulationMultiArm*`` do it, selection of arms at interim looks included;
- `holm`, `hochberg` and `multiplicity_rejections` for a single (final) analysis.

References: Dunnett 1955; Holm 1979; Hochberg 1988; Hommel 1988; Marcus, Peritz & Gabriel
1976; Bauer & Kieser 1999; Spiessens & Debois 2010; Magirr, Jaki & Whitehead 2012;
Wassmer & Brannath 2016, ch. 11.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import log_ndtr, ndtr, ndtri

from cstrial.design.integration import check_information
from cstrial.design.spending import check_family, spending_function
from cstrial.errors import ConvergenceError, CstrialError

#: Intersection tests of `intersection_p_values` and `closed_combination_test`.
INTERSECTION_TESTS: tuple[str, ...] = (
    "bonferroni",
    "simes",
    "sidak",
    "dunnett",
    "spiessens-debois",
)
#: Methods of `multiplicity_rejections` (the protocol's ``design.multiplicity``).
MULTIPLICITY_METHODS: tuple[str, ...] = ("bonferroni", "dunnett", "holm", "hochberg", "simes")

#: Largest number of arms (or populations) in a closed test: 2^M − 1 = 63 intersections.
MAX_HYPOTHESES = 6

# scipy's multivariate normal cdf is randomised quasi-Monte Carlo (Genz's lattice rules
# with random shifts); a fixed seed makes every evaluation, and so every bound, the same
# from run to run, and makes the cdf a smooth function of the bound for root finding.
_MVN_SEED = 20120914
# Secant steps stop below this change in z: the QMC error moves a bound by ~2e-5.
_XTOL = 1e-5
# rpact's C_QNORM_MAXIMUM = -qnorm(1e-100): the largest |Φ⁻¹(1 − p)| it combines
_QNORM_MAXIMUM = float(-ndtri(1e-100))
_QNORM_THRESHOLD = math.floor(_QNORM_MAXIMUM)


# --------------------------------------------------------------------------- correlation


def _check_allocation(allocation: ArrayLike, name: str = "allocation") -> np.ndarray:
    w = np.asarray(allocation, dtype=float)
    if w.ndim == 0 or w.shape[-1] < 2:
        raise CstrialError(
            f"{name} must list the control first and then each treatment arm, e.g. "
            f"[1, 1, 1] for control, tocilizumab and anakinra; found shape {w.shape}"
        )
    control = w[..., 0]
    if not np.all(np.isfinite(control)) or np.any(control <= 0):
        raise CstrialError(f"{name}: the control share (first entry) must be > 0, found {control}")
    arms = w[..., 1:]
    bad = ~np.isnan(arms) & (~np.isfinite(arms) | (arms <= 0))
    if np.any(bad):
        raise CstrialError(
            f"{name}: treatment shares must be > 0 (or NaN for an arm that did not run), "
            f"found {arms[bad][:5].tolist()}"
        )
    return w


def _loadings(allocation: np.ndarray) -> np.ndarray:
    """λ_i = √(w_i/(w_0 + w_i)) for each treatment arm, NaN where the arm did not run."""
    w = np.asarray(allocation, dtype=float)
    return np.sqrt(w[..., 1:] / (w[..., :1] + w[..., 1:]))


def many_to_one_correlation(allocation: ArrayLike) -> np.ndarray:
    """Correlation matrix of the M treatment-versus-shared-control z statistics.

    ``allocation`` lists the control first, then the M treatment arms: planned shares
    or ratios, shape (M+1,), or observed sample sizes per replicate, shape (..., M+1)
    (e.g. (R, M+1)). Returns (M, M), or (..., M, M), with ρ_ij = √(w_i w_j / ((w_0 + w_i)
    (w_0 + w_j))) off the diagonal and 1 on it. A treatment entry may be NaN (an arm that
    did not run); its row and column are then NaN.

    References: Dunnett 1955.
    """
    w = _check_allocation(allocation)
    lam = _loadings(w)
    rho = lam[..., :, None] * lam[..., None, :]
    m = lam.shape[-1]
    diag = np.where(np.isnan(lam), np.nan, 1.0)
    rho[..., np.arange(m), np.arange(m)] = diag
    return rho


def _check_correlation(correlation: ArrayLike) -> np.ndarray:
    r = np.atleast_2d(np.asarray(correlation, dtype=float))
    if r.ndim != 2 or r.shape[0] != r.shape[1]:
        raise CstrialError(
            f"correlation must be a square (M, M) matrix, found shape {r.shape}; "
            "use many_to_one_correlation(allocation) for a shared control"
        )
    if not np.all(np.isfinite(r)) or not np.allclose(r, r.T, atol=1e-12):
        raise CstrialError("correlation must be finite and symmetric")
    if not np.allclose(np.diag(r), 1.0, atol=1e-12):
        raise CstrialError(f"correlation must have 1 on the diagonal, found {np.diag(r).tolist()}")
    if np.linalg.eigvalsh(r).min() < -1e-10:
        raise CstrialError("correlation is not positive semi-definite")
    return r


# --------------------------------------------------------------------------- GS Dunnett bounds


@dataclass(frozen=True, eq=False)
class DunnettBounds:
    """Single-step group-sequential Dunnett efficacy bounds, one per look.

    H_i is rejected at look k if Z_ik ≥ ``efficacy_z[k]``. ``cumulative_alpha[k]`` is
    P(some Z_ij ≥ c_j for some j ≤ k) under the global null, as evaluated by scipy's
    multivariate normal at the bounds (``alpha_spent`` its per-look increments);
    ``cumulative_alpha[-1]`` equals ``alpha`` up to the integration error (~1e-6).
    ``nominal_p`` are the marginal one-sided p-values Φ(−c_k). The arrays are read-only.
    """

    information: np.ndarray
    efficacy_z: np.ndarray
    nominal_p: np.ndarray
    alpha_spent: np.ndarray
    cumulative_alpha: np.ndarray
    correlation: np.ndarray
    alpha: float
    efficacy: str
    efficacy_parameter: float | None

    @property
    def looks(self) -> int:
        """Number of looks K."""
        return int(self.information.size)

    @property
    def arms(self) -> int:
        """Number of treatment arms M."""
        return int(self.correlation.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; a bound of +inf (no stop at that look) is None."""

        def listed(a: np.ndarray) -> list[Any]:
            return [float(v) if math.isfinite(v) else None for v in np.ravel(a)]

        return {
            "information": listed(self.information),
            "efficacy_z": listed(self.efficacy_z),
            "nominal_p": listed(self.nominal_p),
            "alpha_spent": listed(self.alpha_spent),
            "cumulative_alpha": listed(self.cumulative_alpha),
            "correlation": [listed(row) for row in self.correlation],
            "alpha": float(self.alpha),
            "efficacy": self.efficacy,
            "efficacy_parameter": self.efficacy_parameter,
        }


def _look_correlation(t: np.ndarray) -> np.ndarray:
    """Corr(Z_j, Z_k) = √(t_j/t_k), j ≤ k (Jennison & Turnbull 2000, ch. 3)."""
    return np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))


def _abseps(c_guess: float, arms: int) -> float:
    """QMC absolute error target that keeps a bound near ``c_guess`` good to ~3e-5.

    A bound error δc moves the probability by about δc·(derivative) ≥ δc·φ(c)·arms/2,
    and scipy's ``abseps`` is three standard errors, so abseps = 3·3e-5·φ(c)·arms/2
    leaves a standard error worth 1e-5 in c. Capped at 1e-5 (the scipy default), floored
    at 1e-9 (beyond that the QMC needs more points than is reasonable).
    """
    density = math.exp(-0.5 * c_guess * c_guess) / math.sqrt(2 * math.pi)
    return float(min(1e-5, max(1e-9, 4.5e-5 * density * arms)))


def _no_crossing(
    bounds: np.ndarray, t: np.ndarray, correlation: np.ndarray, abseps: float
) -> float:
    """P(Z_ij < c_j for every arm i and look j = 1..k) under the global null.

    The (k·M) statistics are jointly normal with covariance kron(look correlation, arm
    correlation). Looks with no bound (+inf) are marginalised out exactly by dropping
    them. Dimensions 1 and 2 are exact in scipy; higher ones use Genz's randomised lattice
    QMC with the fixed seed.
    """
    from scipy.stats import multivariate_normal

    finite = np.isfinite(bounds)
    if not np.any(finite):
        return 1.0
    tt = t[finite]
    cov = np.kron(_look_correlation(tt), correlation)
    upper = np.repeat(bounds[finite], correlation.shape[0])
    dist = multivariate_normal(
        mean=np.zeros(upper.size),
        cov=cov,
        allow_singular=True,
        maxpts=2_000_000 * upper.size,
        abseps=abseps,
        releps=0.0,  # scipy's QMC stops on abseps alone
        seed=np.random.default_rng(_MVN_SEED),
    )
    return float(dist.cdf(upper))


def _refined_root(excess: Any, lo: float, hi: float, what: str) -> float:
    """Root of an increasing ``excess(c, abseps_scale)`` in two passes.

    A cheap pass (QMC error target ×10) brackets and solves to 1e-4 by Brent's method;
    a fine pass then takes secant steps from there with the full precision. Each fine
    evaluation is ~10 times the cost of a cheap one, and 2-4 of them suffice.
    """
    from scipy.optimize import brentq

    def rough(c: float) -> float:
        return float(excess(c, 10.0))

    while rough(hi) < 0.0:
        hi += 0.25
    while rough(lo) > 0.0:
        lo -= 0.75
        if lo < -10.0:
            raise ConvergenceError(f"no {what} found")
    try:
        c0 = float(brentq(rough, lo, hi, xtol=1e-4, maxiter=100))
    except ValueError as exc:
        raise ConvergenceError(f"{what}: {exc}") from None
    x0, x1 = c0, c0 + 5e-4
    f0, f1 = float(excess(x0, 1.0)), float(excess(x1, 1.0))
    for _ in range(8):
        if f1 == f0:
            break
        x2 = x1 - f1 * (x1 - x0) / (f1 - f0)
        x0, f0 = x1, f1
        x1, f1 = x2, float(excess(x2, 1.0))
        if abs(x1 - x0) < _XTOL:
            break
    return x1


def _solve_look(
    fixed: np.ndarray, t: np.ndarray, correlation: np.ndarray, target: float, spend: float
) -> float:
    """Bound c at the last look of ``t`` with P(no crossing through it) = ``target``."""
    arms = correlation.shape[0]
    if spend <= 0.0:
        return math.inf
    # Bonferroni: the first crossing at this look has probability at most arms·Φ(−c),
    # so the root lies at or below this c
    hi = float(-ndtri(min(spend / arms, 0.5)))
    abseps = _abseps(hi, arms)

    def excess(c: float, scale: float) -> float:
        return _no_crossing(np.append(fixed, c), t, correlation, abseps * scale) - target

    return _refined_root(excess, hi - 0.75, hi + 1e-3, f"Dunnett bound at look {t.size}")


def dunnett_group_sequential_bounds(
    looks: Sequence[float] | ArrayLike,
    alpha: float,
    correlation: ArrayLike,
    efficacy: str = "lan-demets-obrien-fleming",
    efficacy_parameter: float | None = None,
) -> DunnettBounds:
    """Generalised (group-sequential) Dunnett efficacy bounds for K looks and M arms.

    H_i is rejected at look k if Z_ik ≥ c_k; the bounds are common to the arms and the
    familywise error under the global null, P(Z_ik ≥ c_k for some i and k), is alpha.
    The M·K statistics are jointly normal with covariance kron(look correlation
    √(t_j/t_k), ``correlation``) (Magirr, Jaki & Whitehead 2012, §2), which assumes that
    the allocation is the same at every look and that every arm continues to the end
    unless the trial stops.

    Shape of the bounds (``efficacy``):

    - an alpha-spending family (`cstrial.design.SPENDING_FAMILIES`, the default is the
      Lan–DeMets O'Brien–Fleming type): the familywise alpha spent by look k, i.e.
      P(max_i Z_ij ≥ c_j for some j ≤ k), equals the spending function f(t_k), solved
      look by look. This is the direct extension of the univariate spending approach
      (Lan & DeMets 1983) to the maximum statistic, chosen because it keeps the
      project's one vocabulary of spending families and, with ``none``, gives the
      classical single-stage Dunnett test at the last look. With M = 1 it reproduces
      `group_sequential_boundaries`.
    - ``wang-tsiatis`` with Δ = ``efficacy_parameter``: c_k = C·t_k^(Δ−0.5) with one
      constant C solved for a total of alpha; Δ = 0 and Δ = 0.5 are the "OBF" and
      "Pocock" shapes of the MAMS R package (Magirr et al. 2012) without futility bounds.

    Futility is non-binding by construction: these efficacy bounds are computed as if
    no arm were ever dropped for futility, so dropping arms cannot raise the error.

    Accuracy: probabilities come from `scipy.stats.multivariate_normal.cdf` (Genz's
    randomised lattice QMC, fixed seed). Its ``abseps`` is set at each look from the
    normal density at the bound so that the QMC's error moves the bound by about 1e-5;
    ``releps`` is not used by scipy's QMC. Bounds agree with R's mvtnorm to 1e-4.
    Cost grows steeply with K·M (measured on one busy core): about a second for
    K = M = 2, 5-10 s for K·M = 6, about a minute for K = M = 3; K·M beyond ~12 takes
    minutes. Compute a design's bounds once and reuse them.

    Parameters
    ----------
    looks
        Information fractions, strictly increasing, ending at 1.0.
    alpha
        One-sided familywise error rate.
    correlation
        (M, M) correlation matrix of the arms' z statistics at any one look, e.g.
        ``many_to_one_correlation([1, 1, 1])`` for two arms and a control, equal shares.

    References: Dunnett 1955; Lan & DeMets 1983; Wang & Tsiatis 1987; Magirr, Jaki &
    Whitehead 2012; Genz 1992 (the integration).
    """
    t = check_information(looks, name="looks")
    if np.any(t > 1.0 + 1e-12) or abs(t[-1] - 1.0) > 1e-9:
        raise CstrialError(
            f"looks must be information fractions in (0, 1] ending at 1.0, found {t.tolist()}"
        )
    t = t.copy()
    t[-1] = 1.0
    if not 0.0 < alpha < 0.5:
        raise CstrialError(f"alpha (one-sided) must lie in (0, 0.5), found {alpha}")
    r = _check_correlation(correlation)
    parameter = check_family(efficacy, efficacy_parameter, "efficacy")
    k_max = t.size
    if efficacy == "wang-tsiatis":
        assert parameter is not None
        if not -0.5 <= parameter <= 1.0:
            raise CstrialError(
                f"efficacy: wang-tsiatis delta must lie in [-0.5, 1], found {parameter}; "
                "0 is O'Brien-Fleming, 0.5 is Pocock"
            )
        bounds = _wang_tsiatis(t, alpha, r, parameter)
    else:
        cumulative = spending_function(efficacy, t, alpha, parameter)
        cumulative[-1] = alpha
        bounds = np.empty(k_max)
        previous = 0.0
        for k in range(k_max):
            bounds[k] = _solve_look(
                bounds[:k], t[: k + 1], r, 1.0 - cumulative[k], cumulative[k] - previous
            )
            previous = cumulative[k]
    cumulative_alpha = np.array(
        [
            1.0 - _no_crossing(bounds[: k + 1], t[: k + 1], r, _abseps(bounds[k], r.shape[0]))
            if math.isfinite(bounds[k])
            else np.nan
            for k in range(k_max)
        ]
    )
    # a look without a bound spends nothing: carry the previous cumulative value
    for k in range(k_max):
        if np.isnan(cumulative_alpha[k]):
            cumulative_alpha[k] = cumulative_alpha[k - 1] if k else 0.0
    spent = np.diff(np.concatenate([[0.0], cumulative_alpha]))
    return DunnettBounds(
        information=_frozen(t),
        efficacy_z=_frozen(bounds),
        nominal_p=_frozen(ndtr(-bounds)),
        alpha_spent=_frozen(spent),
        cumulative_alpha=_frozen(cumulative_alpha),
        correlation=_frozen(r),
        alpha=float(alpha),
        efficacy=efficacy,
        efficacy_parameter=parameter,
    )


def _wang_tsiatis(t: np.ndarray, alpha: float, r: np.ndarray, delta: float) -> np.ndarray:
    shape = t ** (delta - 0.5)
    arms = r.shape[0]
    # the last look alone (t_K = 1) needs C ≥ z_{1−α}/max(shape); the Bonferroni bound
    # over all K·M tests is enough
    lo = float(-ndtri(alpha)) / float(shape.max())
    hi = float(-ndtri(alpha / (arms * t.size))) / float(shape.min())
    abseps = _abseps(float(hi * shape[-1]), arms)

    def excess(c: float, scale: float) -> float:
        return _no_crossing(c * shape, t, r, abseps * scale) - (1.0 - alpha)

    c = _refined_root(excess, lo * 0.99, hi * 1.01, "Wang-Tsiatis constant for Dunnett bounds")
    return c * shape


def _frozen(values: ArrayLike) -> np.ndarray:
    out = np.array(values, dtype=float)
    out.flags.writeable = False
    return out


# --------------------------------------------------------------------------- one-factor tail

# Composite Gauss-Legendre rules on [-9, 9] for the integral over the shared factor X.
# Checked against adaptive quadrature: absolute error below 1e-11 for loadings λ² ≤ 0.9
# (allocations up to 9:1 treatment:control) with the coarse rule, below 1e-9 for λ² up
# to 0.98 with the fine one (the integrand steepens as λ → 1: its width is √(1−λ²)/λ).
_RULES: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _rule(fine: bool) -> tuple[np.ndarray, np.ndarray]:
    key = "fine" if fine else "coarse"
    if key not in _RULES:
        width, n = (0.25, 10) if fine else (1.0, 12)
        g, gw = np.polynomial.legendre.leggauss(n)
        left = np.arange(-9.0, 9.0, width)
        x = (left[:, None] + width * (g[None, :] + 1.0) / 2.0).ravel()
        w = np.repeat(np.full(left.size, width / 2.0), n) * np.tile(gw, left.size)
        _RULES[key] = (x, w * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi))
    return _RULES[key]


def _one_factor_tail(c: np.ndarray, loadings: np.ndarray) -> np.ndarray:
    """P(max_i Z_i ≥ c) for Z_i = λ_i X + √(1−λ_i²) E_i, one replicate per row.

    ``c`` has shape (R,), ``loadings`` (R, m) with NaN for arms left out. Computed as
    ∫ φ(x) [1 − Π_i Φ((c − λ_i x)/√(1−λ_i²))] dx, the complement written with expm1 and
    log Φ so that tails far below 1e-10 keep their relative precision.
    """
    lam = np.asarray(loadings, dtype=float)
    active = ~np.isnan(lam)
    lam_safe = np.where(active, lam, 0.0)
    fine = bool(np.any(lam_safe**2 > 0.9))
    x, w = _rule(fine)
    s = np.sqrt(1.0 - lam_safe**2)
    s = np.where(s > 0, s, 1e-300)
    arg = (c[:, None, None] - lam_safe[:, :, None] * x[None, None, :]) / s[:, :, None]
    log_below = np.where(active[:, :, None], log_ndtr(arg), 0.0).sum(axis=1)
    tail = (-np.expm1(log_below)) @ w
    return np.clip(tail, 0.0, 1.0)


# With the planned allocation the loadings are the same in every replicate, and the tail
# is a smooth function of c alone: tabulate log P(max ≥ c) once per set of loadings on a
# grid of step 0.01 and interpolate with a cubic spline (relative error below 1e-8, a
# hundredth of the quadrature's cost); c outside the grid goes to the quadrature.
_TABLE_GRID = np.linspace(-8.0, 10.0, 1801)


@functools.lru_cache(maxsize=512)
def _tail_table(loadings: tuple[float, ...]) -> Any:
    from scipy.interpolate import CubicSpline

    lam = np.broadcast_to(np.array(loadings), (_TABLE_GRID.size, len(loadings)))
    return CubicSpline(_TABLE_GRID, np.log(_one_factor_tail(_TABLE_GRID, lam)))


def _max_tail(c: np.ndarray, loadings: np.ndarray) -> np.ndarray:
    """`_one_factor_tail`, by the cached table for rows that share their loadings.

    Rows are grouped by which arms are present (arms dropped in some replicates only);
    a group whose loadings differ from row to row (observed sample sizes) goes to the
    quadrature.
    """
    out = np.empty(c.size)
    absent = np.isnan(loadings)
    patterns, group = np.unique(absent, axis=0, return_inverse=True)
    group = np.ravel(group)
    for g in range(patterns.shape[0]):
        rows = np.flatnonzero(group == g)
        lam = loadings[rows][:, ~patterns[g]]
        if rows.size < 50 or not np.all(lam == lam[0]):
            out[rows] = _one_factor_tail(c[rows], loadings[rows])
            continue
        spline = _tail_table(tuple(lam[0].tolist()))
        cg = c[rows]
        inside = (cg >= _TABLE_GRID[0]) & (cg <= _TABLE_GRID[-1])
        values = np.empty(rows.size)
        values[inside] = np.minimum(np.exp(spline(cg[inside])), 1.0)
        if not np.all(inside):
            values[~inside] = _one_factor_tail(cg[~inside], loadings[rows][~inside])
        out[rows] = values
    return out


# --------------------------------------------------------------------------- intersection tests


def _members(members: ArrayLike, m: int) -> np.ndarray:
    idx = np.asarray(members)
    if idx.dtype == bool:
        if idx.shape != (m,):
            raise CstrialError(f"members as a mask needs {m} entries, found {idx.shape}")
        mask = idx.copy()
    else:
        idx = np.atleast_1d(idx).astype(int)
        if idx.size == 0 or np.any(idx < 0) or np.any(idx >= m):
            raise CstrialError(
                f"members must be arm indices 0..{m - 1} (0 is the first treatment arm), "
                f"found {idx.tolist()}"
            )
        mask = np.zeros(m, dtype=bool)
        mask[idx] = True
    if not mask.any():
        raise CstrialError("an intersection hypothesis needs at least one member")
    return mask


def _check_test(test: str) -> str:
    if test not in INTERSECTION_TESTS:
        raise CstrialError(
            f"unknown intersection test {test!r}; expected one of " + ", ".join(INTERSECTION_TESTS)
        )
    return test


def intersection_p_values(
    z: ArrayLike,
    members: ArrayLike,
    test: str = "bonferroni",
    *,
    allocation: ArrayLike | None = None,
    subgroup_fraction: ArrayLike | None = None,
) -> np.ndarray:
    """Stage-wise p-value of the intersection hypothesis H_I = ∩_{i∈I} H_i per replicate.

    Parameters
    ----------
    z
        One-sided stage-wise z statistics of the M elementary hypotheses, shape (R, M)
        (or (M,)); NaN for an arm that has no data at this stage (not selected). The
        elementary p-values are p_i = Φ(−z_i); from p-values use z = Φ⁻¹(1 − p).
    members
        The arms in I: indices 0..M−1 (0 is the first treatment arm) or a boolean mask.
    test
        ``bonferroni``: min(1, m_I·min p); ``simes``: min_j m_I·p_(j)/j; ``sidak``:
        1 − (1 − min p)^m_I; ``dunnett``: P(max_{i∈I} Z_i ≥ max_{i∈I} z_i) under the
        many-to-one correlation of the arms in I (Dunnett 1955), by one-dimensional
        integration over the shared control (see `_one_factor_tail`);
        ``spiessens-debois``: the same for two populations, subgroup S (index 0) and
        full population F (index 1), correlated √(n_S/n_F) (Spiessens & Debois 2010).
    allocation
        For ``dunnett``: control first, then the M treatments, as planned shares (M+1,)
        or as this stage's sample sizes per replicate (R, M+1). rpact's analysis uses
        the stage's observed sample sizes, its simulation the planned allocation.
    subgroup_fraction
        For ``spiessens-debois``: n_S/n_F at this stage, a scalar or (R,).

    Returns
    -------
    (R,) p-values; NaN where no member of I has data. m_I counts only the members with
    data, so an intersection of selected and deselected arms is tested on the selected
    ones alone (rpact's convention; Wassmer & Brannath 2016, §11.1).

    References: Šidák 1967; Simes 1986; Dunnett 1955; Spiessens & Debois 2010;
    Wassmer & Brannath 2016, ch. 11.
    """
    _check_test(test)
    zz = np.asarray(z, dtype=float)
    single = zz.ndim == 1
    zz = np.atleast_2d(zz)
    if zz.ndim != 2:
        raise CstrialError(f"z must have shape (R, M), found {np.shape(z)}")
    m = zz.shape[1]
    mask = _members(members, m)
    out = _intersection_p(zz, mask, test, _loadings_for(test, zz, allocation, subgroup_fraction))
    return out[0] if single else out


def _loadings_for(
    test: str,
    z: np.ndarray,
    allocation: ArrayLike | None,
    subgroup_fraction: ArrayLike | None,
) -> np.ndarray | None:
    """(R, M) loadings λ for the correlation-based tests, None for the others."""
    r, m = z.shape
    if test == "dunnett":
        if allocation is None:
            raise CstrialError(
                "the dunnett intersection test needs the allocation (control first), "
                "e.g. allocation=[1, 1, 1], or the stage's sample sizes per replicate"
            )
        w = _check_allocation(allocation)
        if w.shape[-1] != m + 1:
            raise CstrialError(
                f"allocation has {w.shape[-1]} entries but z has {m} arms: give the "
                f"control first and then each of the {m} treatment arms"
            )
        lam = _loadings(w)
        return np.broadcast_to(lam, (r, m)) if lam.ndim == 1 else lam.reshape(r, m)
    if test == "spiessens-debois":
        if m != 2:
            raise CstrialError(
                f"spiessens-debois compares two nested populations (S, F), found {m} hypotheses"
            )
        if subgroup_fraction is None:
            raise CstrialError(
                "spiessens-debois needs subgroup_fraction = n_S / n_F, the share of the "
                "full population's information in the subgroup"
            )
        f = np.broadcast_to(np.asarray(subgroup_fraction, dtype=float), (r,))
        if np.any(~np.isfinite(f)) or np.any(f <= 0) or np.any(f > 1):
            raise CstrialError(f"subgroup_fraction must lie in (0, 1], found {np.unique(f)[:5]}")
        lam = f**0.25  # λ_S λ_F = √(n_S/n_F)
        return np.repeat(lam[:, None], 2, axis=1)
    return None


def _intersection_p(
    z: np.ndarray, mask: np.ndarray, test: str, loadings: np.ndarray | None
) -> np.ndarray:
    """Core of `intersection_p_values` on validated arrays: z (R, M), mask (M,)."""
    zi = z[:, mask]
    present = ~np.isnan(zi)
    m_i = present.sum(axis=1)
    none = m_i == 0
    p = np.where(present, ndtr(-np.where(present, zi, 0.0)), np.nan)
    out = np.full(z.shape[0], np.nan)
    if np.all(none):
        return out
    with np.errstate(invalid="ignore"):
        p_min = np.nanmin(np.where(none[:, None], 1.0, p), axis=1)
    if test == "bonferroni":
        out = np.minimum(1.0, m_i * p_min)
    elif test == "sidak":
        # 1 − (1 − p)^m written with log1p/expm1: exact for p near 0
        below = np.minimum(p_min, 0.5)
        out = np.where(p_min < 0.5, -np.expm1(m_i * np.log1p(-below)), 1.0 - (1.0 - p_min) ** m_i)
    elif test == "simes":
        ordered = np.sort(np.where(present, p, 2.0), axis=1)  # absent arms sort last
        j = np.arange(1, ordered.shape[1] + 1)
        scaled = np.where(j[None, :] <= m_i[:, None], m_i[:, None] * ordered / j[None, :], np.inf)
        out = np.min(scaled, axis=1)
    else:  # dunnett, spiessens-debois: the maximum statistic
        assert loadings is not None
        lam = np.where(present, loadings[:, mask], np.nan)
        z_max = np.nanmax(np.where(none[:, None], 0.0, np.where(present, zi, -np.inf)), axis=1)
        out = np.empty(z.shape[0])
        one = m_i == 1
        out[one] = ndtr(-z_max[one])  # one arm: the marginal p-value, exactly
        many = m_i > 1
        if np.any(many):
            out[many] = _max_tail(z_max[many], lam[many])
    out = np.asarray(out, dtype=float)
    out[none] = np.nan
    return out


# --------------------------------------------------------------------------- closed testing


def intersection_hypotheses(m: int) -> np.ndarray:
    """All 2^m − 1 intersections as a boolean (2^m − 1, m) membership matrix.

    In rpact's order (``.getIndicesOfClosedHypothesesSystem``): the global intersection
    first, then by decreasing size, and within a size lexicographically with the lower
    arms first; the elementary hypotheses H_1..H_m come last.
    """
    if not 1 <= m <= MAX_HYPOTHESES:
        raise CstrialError(
            f"closed testing is offered for 1 to {MAX_HYPOTHESES} hypotheses, found {m}"
        )
    rows = [
        np.array([i in combo for i in range(m)])
        for size in range(m, 0, -1)
        for combo in itertools.combinations(range(m), size)
    ]
    return np.array(rows, dtype=bool)


def inverse_normal_weights(looks: Sequence[float] | ArrayLike) -> np.ndarray:
    """Weights w_k = √(t_k − t_{k−1}) of the inverse-normal combination test.

    rpact's ``.getWeightsInverseNormal`` for ``getDesignInverseNormal(informationRates
    = looks)``; with these weights and no adaptation the combination statistic equals
    the cumulative z statistic.
    """
    t = check_information(looks, name="looks")
    return np.sqrt(np.diff(np.concatenate([[0.0], t])))


@dataclass(frozen=True, eq=False)
class ClosedTestResult:
    """Decisions of a closed combination test, per replicate, look and hypothesis.

    ``intersections`` (n_I, M) are the intersection hypotheses in rpact's order
    (`intersection_hypotheses`). ``stage_p`` (R, K, n_I) are their stage-wise p-values
    (rpact ``adjustedStageWisePValues``), ``combination_z`` (R, K, n_I) the
    inverse-normal combinations over looks 1..k (``overallAdjustedTestStatistics``),
    ``intersection_rejected`` (R, K, n_I) whether H_I is rejected at look k or before
    (``rejectedIntersections``), and ``rejected`` (R, K, M) whether the elementary H_i
    is rejected at look k or before (``rejected``). NaN marks an intersection none of
    whose arms has data at that look.
    """

    intersections: np.ndarray
    stage_p: np.ndarray
    combination_z: np.ndarray
    intersection_rejected: np.ndarray
    rejected: np.ndarray

    def first_rejection_look(self) -> np.ndarray:
        """(R, M) index of the look at which H_i is first rejected, −1 if never."""
        ever = self.rejected.any(axis=1)
        return np.where(ever, np.argmax(self.rejected, axis=1), -1)


def closed_combination_test(
    z: ArrayLike,
    efficacy_z: ArrayLike,
    weights: ArrayLike,
    test: str = "dunnett",
    *,
    allocation: ArrayLike | None = None,
    subgroup_fraction: ArrayLike | None = None,
) -> ClosedTestResult:
    """Closed test of M hypotheses across K looks by the inverse-normal combination.

    For each intersection H_I and look k, the stage-wise p-value p_{I,k} comes from the
    intersection ``test`` applied to the stage-k data alone (`intersection_p_values`),
    and the combination statistic is Z_I(k) = Σ_{l≤k} w_l Φ⁻¹(1 − p_{I,l}) / √(Σ_{l≤k} w_l²).
    H_I is rejected at look k if Z_I(k) ≥ ``efficacy_z[k]`` or it was rejected earlier;
    H_i is rejected at look k iff every H_I with i ∈ I is (Marcus, Peritz & Gabriel 1976;
    Bauer & Kieser 1999).

    Conventions, all rpact's (``.performClosedCombinationTest`` in R/f_analysis_multiarm.R
    and ``.performClosedCombinationTestForSimulationMultiArm`` in
    R/f_simulation_multiarm.R, rpact 3.3.4):

    - Selection: an arm dropped at an interim has NaN z from then on. At later looks an
      intersection is tested on its selected arms only (m_I counts them; the Dunnett
      correlation is that of the selected arms), while its earlier stage-wise p-values
      still used all its arms. An intersection with no selected arm at look k has no
      p-value (NaN) there, so it cannot be newly rejected: its arms' elementary
      hypotheses can then only have been rejected at an earlier look.
    - Earlier rejection: an intersection rejected at some look stays rejected at every
      later look, whatever its later combination statistic ("rejected at look k" is
      cumulative), and so do the elementary hypotheses.
    - The bounds are those of the univariate group-sequential design (rpact's
      ``criticalValues`` of ``getDesignInverseNormal``), since each H_I's stage-wise
      p-values are (sub-)uniform and independent across stages under H_I; futility
      bounds are ignored (non-binding).

    Parameters
    ----------
    z
        Stage-wise (not cumulative) one-sided z statistics, shape (R, K, M); NaN where an
        arm has no data at that look (deselected, or the trial had stopped).
    efficacy_z
        The group-sequential efficacy bounds per look (K,), e.g.
        ``group_sequential_boundaries(looks, alpha).efficacy_z``.
    weights
        Pre-specified inverse-normal weights (K,), e.g. `inverse_normal_weights(looks)`.
    test
        The intersection test, one of `INTERSECTION_TESTS`.
    allocation
        For ``dunnett``: the control first, then the M treatments: planned shares (M+1,)
        (as rpact's simulation), stage-wise sample sizes per look (K, M+1), or per
        replicate and look (R, K, M+1) (as rpact's analysis, which uses each stage's
        own sample sizes).
    subgroup_fraction
        For ``spiessens-debois`` (M = 2: subgroup S, full population F): n_S/n_F, a
        scalar, (K,) or (R, K).

    References: Marcus, Peritz & Gabriel 1976; Bauer & Kieser 1999; Wassmer & Brannath
    2016, ch. 11.
    """
    _check_test(test)
    zz = np.asarray(z, dtype=float)
    if zz.ndim == 2:  # a single replicate given as (K, M)
        zz = zz[None]
    if zz.ndim != 3:
        raise CstrialError(f"z must have shape (R, K, M), found {np.shape(z)}")
    r, k_max, m = zz.shape
    bounds = np.asarray(efficacy_z, dtype=float).reshape(-1)
    w = np.asarray(weights, dtype=float).reshape(-1)
    if bounds.size != k_max or w.size != k_max:
        raise CstrialError(
            f"z has {k_max} looks but efficacy_z has {bounds.size} and weights {w.size}: "
            "give one of each per look"
        )
    if np.any(~np.isfinite(w)) or np.any(w <= 0):
        raise CstrialError(f"weights must be positive, found {w.tolist()}")
    if np.any(np.isnan(zz[:, 1:, :]) < np.isnan(zz[:, :-1, :])):
        raise CstrialError(
            "an arm with no data at one look (NaN) has data at a later one: arms can be "
            "dropped at an interim but not added back"
        )
    stage_alloc = _stage_allocation(allocation, r, k_max, m) if test == "dunnett" else None
    stage_fraction = (
        _stage_fraction(subgroup_fraction, r, k_max) if test == "spiessens-debois" else None
    )

    intersections = intersection_hypotheses(m)
    n_i = intersections.shape[0]
    stage_p = np.full((r, k_max, n_i), np.nan)
    for k in range(k_max):
        zk = zz[:, k, :]
        loadings = _loadings_for(
            test,
            zk,
            None if stage_alloc is None else stage_alloc[:, k, :],
            None if stage_fraction is None else stage_fraction[:, k],
        )
        for i in range(n_i):
            stage_p[:, k, i] = _intersection_p(zk, intersections[i], test, loadings)

    # Φ⁻¹(1 − p), set to ±Φ⁻¹(1 − 1e-100) ≈ ±21.27 beyond ±21, as rpact's
    # .getOneMinusQNorm does (C_QNORM_MAXIMUM, C_QNORM_THRESHOLD): a stage with p = 1 then pulls the combination far down instead
    # of to −inf, and p = 0 at one stage and 1 at another cannot give inf − inf
    q = -ndtri(stage_p)
    q = np.where(q > _QNORM_THRESHOLD, _QNORM_MAXIMUM, q)
    q = np.where(q < -_QNORM_THRESHOLD, -_QNORM_MAXIMUM, q)
    scale = np.sqrt(np.cumsum(w**2))
    with np.errstate(invalid="ignore"):
        combination = np.cumsum(w[None, :, None] * q, axis=1) / scale[None, :, None]
        crossed = combination >= bounds[None, :, None]
    crossed &= ~np.isnan(combination)
    intersection_rejected = np.logical_or.accumulate(crossed, axis=1)
    # H_i: all intersections containing i rejected (at this look or before)
    rejected = np.ones((r, k_max, m), dtype=bool)
    for j in range(m):
        rejected[:, :, j] = intersection_rejected[:, :, intersections[:, j]].all(axis=2)
    return ClosedTestResult(
        intersections=intersections,
        stage_p=stage_p,
        combination_z=combination,
        intersection_rejected=intersection_rejected,
        rejected=rejected,
    )


def _stage_allocation(allocation: ArrayLike | None, r: int, k_max: int, m: int) -> np.ndarray:
    if allocation is None:
        raise CstrialError(
            "the dunnett intersection test needs the allocation (control first), e.g. "
            "allocation=[1, 1, 1], or the stage-wise sample sizes (R, K, M+1)"
        )
    a = _check_allocation(allocation)
    if a.shape[-1] != m + 1:
        raise CstrialError(
            f"allocation has {a.shape[-1]} entries but z has {m} arms: give the control "
            f"first and then each of the {m} treatment arms"
        )
    if a.ndim == 1:
        return np.broadcast_to(a, (r, k_max, m + 1))
    if a.ndim == 2 and a.shape[0] == k_max:
        return np.broadcast_to(a[None], (r, k_max, m + 1))
    if a.shape == (r, k_max, m + 1):
        return a
    raise CstrialError(
        f"allocation must have shape (M+1,), (K, M+1) or (R, K, M+1) = ({m + 1},), "
        f"({k_max}, {m + 1}) or ({r}, {k_max}, {m + 1}), found {a.shape}"
    )


def _stage_fraction(fraction: ArrayLike | None, r: int, k_max: int) -> np.ndarray:
    if fraction is None:
        raise CstrialError("spiessens-debois needs subgroup_fraction = n_S / n_F")
    f = np.asarray(fraction, dtype=float)
    if f.ndim == 1 and f.size == k_max:
        f = f[None, :]
    try:
        return np.broadcast_to(f, (r, k_max))
    except ValueError:
        raise CstrialError(
            f"subgroup_fraction must be a scalar, (K,) or (R, K), found shape {f.shape}"
        ) from None


# --------------------------------------------------------------------------- single analysis


def _p_matrix(p: ArrayLike) -> np.ndarray:
    pp = np.atleast_2d(np.asarray(p, dtype=float))
    if pp.ndim != 2:
        raise CstrialError(f"p-values must have shape (R, M), found {np.shape(p)}")
    bad = ~np.isnan(pp) & ((pp < 0) | (pp > 1))
    if np.any(bad):
        raise CstrialError(f"p-values must lie in [0, 1], found {pp[bad][:5].tolist()}")
    return pp


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise CstrialError(f"alpha must lie in (0, 1), found {alpha}")


def holm(p: ArrayLike, alpha: float) -> np.ndarray:
    """Holm's step-down test: which hypotheses are rejected, (R, M) bool.

    Sorted p_(1) ≤ ... ≤ p_(m): reject H_(1)..H_(j*) where j* is the last j with
    p_(i) ≤ alpha/(m − i + 1) for every i ≤ j. This is the closed test with Bonferroni
    intersection tests. NaN p-values (hypotheses not tested) are never rejected and do
    not count in m.

    References: Holm 1979.
    """
    _check_alpha(alpha)
    pp = _p_matrix(p)
    m = (~np.isnan(pp)).sum(axis=1, keepdims=True)
    order = np.argsort(np.where(np.isnan(pp), np.inf, pp), axis=1)
    ordered = np.take_along_axis(pp, order, axis=1)
    j = np.arange(pp.shape[1])[None, :]
    ok = (ordered <= alpha / (m - j)) & (j < m)
    keep = np.logical_and.accumulate(ok, axis=1)
    out = np.zeros_like(keep)
    np.put_along_axis(out, order, keep, axis=1)
    return out


def hochberg(p: ArrayLike, alpha: float) -> np.ndarray:
    """Hochberg's step-up test: which hypotheses are rejected, (R, M) bool.

    Sorted p_(1) ≤ ... ≤ p_(m): with j* the largest j with p_(j) ≤ alpha/(m − j + 1),
    reject H_(1)..H_(j*). It is a shortcut of a closed test whose intersection tests
    are Simes-type and rejects a subset of what the closed Simes test (Hommel 1988)
    rejects; it controls the FWER where Simes' test does, e.g. for the positively
    correlated many-to-one statistics. NaN p-values are never rejected and do not
    count in m.

    References: Hochberg 1988; Sarkar & Chang 1997.
    """
    _check_alpha(alpha)
    pp = _p_matrix(p)
    m = (~np.isnan(pp)).sum(axis=1, keepdims=True)
    order = np.argsort(np.where(np.isnan(pp), np.inf, pp), axis=1)
    ordered = np.take_along_axis(pp, order, axis=1)
    j = np.arange(pp.shape[1])[None, :]
    ok = (ordered <= alpha / (m - j)) & (j < m)
    # step-up: everything up to the largest passing j
    keep = np.logical_or.accumulate(ok[:, ::-1], axis=1)[:, ::-1] & (j < m)
    out = np.zeros_like(keep)
    np.put_along_axis(out, order, keep, axis=1)
    return out


def multiplicity_rejections(
    z: ArrayLike,
    alpha: float,
    method: str,
    *,
    allocation: ArrayLike | None = None,
) -> np.ndarray:
    """Which of the M arms' hypotheses a single (final) analysis rejects, (R, M) bool.

    ``method`` (the protocol's ``design.multiplicity``):

    - ``bonferroni``: single-step, p_i ≤ alpha/m;
    - ``dunnett``: single-step Dunnett (1955), z_i ≥ the Dunnett critical value, i.e.
      the Dunnett-adjusted p-value P(max_j Z_j ≥ z_i) ≤ alpha, with the many-to-one
      correlation of ``allocation`` (planned shares (M+1,) or observed sizes (R, M+1));
    - ``holm``: closed test with Bonferroni intersection tests (step-down), `holm`;
    - ``hochberg``: step-up, `hochberg`;
    - ``simes``: closed test with Simes intersection tests (Hommel 1988).

    ``z`` are one-sided z statistics (R, M), NaN for an arm not tested (not counted in
    m). For the step-down Dunnett test use `closed_combination_test` with one look.

    References: Dunnett 1955; Holm 1979; Hochberg 1988; Hommel 1988.
    """
    _check_alpha(alpha)
    if method not in MULTIPLICITY_METHODS:
        raise CstrialError(
            f"unknown multiplicity method {method!r}; expected one of "
            + ", ".join(MULTIPLICITY_METHODS)
        )
    zz = np.atleast_2d(np.asarray(z, dtype=float))
    if zz.ndim != 2:
        raise CstrialError(f"z must have shape (R, M), found {np.shape(z)}")
    p = np.where(np.isnan(zz), np.nan, ndtr(-zz))
    if method == "holm":
        return holm(p, alpha)
    if method == "hochberg":
        return hochberg(p, alpha)
    if method == "bonferroni":
        m = (~np.isnan(p)).sum(axis=1, keepdims=True)
        return np.where(np.isnan(p), False, p * m <= alpha)
    if method == "simes":
        result = closed_combination_test(zz[:, None, :], [float(-ndtri(alpha))], [1.0], "simes")
        return result.rejected[:, 0, :]
    # dunnett, single step: H_i rejected iff P(max over the tested arms ≥ z_i) ≤ alpha
    loadings = _loadings_for("dunnett", zz, allocation, None)
    assert loadings is not None
    tested = ~np.isnan(zz)
    out = np.zeros(zz.shape, dtype=bool)
    for i in range(zz.shape[1]):
        rows = tested[:, i]
        if not np.any(rows):
            continue
        lam = np.where(tested[rows], loadings[rows], np.nan)
        several = tested[rows].sum(axis=1) > 1
        adjusted = ndtr(-zz[rows, i])
        if np.any(several):
            adjusted[several] = _max_tail(zz[rows, i][several], lam[several])
        out[rows, i] = adjusted <= alpha
    return out
