"""Group-sequential efficacy and futility boundaries for a one-sided test.

H0: θ = 0 against H1: θ > 0; the trial stops for efficacy at look k when Z_k ≥ b_k and
for futility when Z_k < a_k. Everything is computed exactly by numerical integration
(`cstrial.design.integration`), never by simulation.

- Efficacy bounds from an alpha-spending function are solved look by look so that the
  cumulative probability under H0 of crossing the upper bound equals the spending
  function at every look (gsDesign ``sfLDOF`` etc., rpact ``typeOfDesign = "asOF"`` etc.).
  Wang–Tsiatis bounds are c·t^(Δ−0.5) with c solved for a total of alpha.
- Futility bounds come from beta-spending under the design alternative (gsDesign
  ``test.type = 4`` non-binding / ``3`` binding, rpact ``typeBetaSpending``): at each
  interim the lower bound makes the cumulative probability of crossing it under the
  design drift equal the beta-spending function, and the drift is found so that the
  power is exactly 1 − β, at which point the final lower bound equals the final upper
  bound.
- Non-binding futility (the default, what regulators expect): efficacy bounds are
  computed as if there were no futility bounds, so alpha is controlled whether or not
  futility stops are obeyed. Binding: efficacy bounds are computed with the futility
  bounds in place under H0, so they are lower; efficacy and futility are solved jointly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from cstrial.design.integration import (
    GRID_R,
    _Recursion,
    check_information,
    crossing_probabilities,
)
from cstrial.design.spending import check_family, spending_function
from cstrial.errors import ConvergenceError, CstrialError, InfeasibleDesignError, UsageError
from cstrial.protocol.models import Design
from cstrial.protocol.vocabulary import futility_problem

# Root-finding tolerance on the z scale: far below the 1e-3 at which bounds are reported,
# and small enough that alpha spent matches the spending function to ~1e-12.
_XTOL = 1e-11
# Largest finite z bound: beyond it the tail probability underflows (Φ(−38) ≈ 3e-316).
_Z_MAX = 38.0


@dataclass(frozen=True, eq=False)
class Boundaries:
    """A one-sided group-sequential design on the z scale, one entry per look.

    ``information`` holds the information fractions t_k (t_K = 1). ``efficacy_z`` may
    hold +inf where there is no efficacy stop (family ``none``, or a spend too small to
    represent). ``futility_z`` is None without futility; otherwise it has one entry per
    look and, as in gsDesign, its last entry equals the last efficacy bound, so that the
    final look decides either way. ``alpha_spent`` are the per-look probabilities under
    H0 of crossing the efficacy bound, ignoring futility bounds when ``binding`` is
    False and with them in place when True; ``beta_spent`` are the per-look
    probabilities under the design ``drift`` of crossing the futility bound (the last is
    the probability of reaching the final look and not rejecting; they sum to β).
    ``drift`` is E[Z_K] under the design alternative: the drift giving power 1 − β.
    ``inflation_factor`` is (drift / (z_{1−α} + z_{1−β}))², the maximum information over
    that of a fixed design with the same alpha and power (rpact ``inflationFactor``,
    gsDesign ``n.I[K] / n.fix``).

    The arrays are read-only. Compare designs field by field (``eq=False``: numpy arrays
    have no single truth value).
    """

    information: np.ndarray
    efficacy_z: np.ndarray
    futility_z: np.ndarray | None
    nominal_p: np.ndarray
    alpha_spent: np.ndarray
    cumulative_alpha: np.ndarray
    beta_spent: np.ndarray | None
    inflation_factor: float
    drift: float
    binding: bool
    alpha: float
    beta: float
    efficacy: str = "lan-demets-obrien-fleming"
    efficacy_parameter: float | None = None
    futility: str | None = None
    futility_parameter: float | None = None

    @property
    def looks(self) -> int:
        """Number of looks K, the final analysis included."""
        return int(self.information.size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the ``cstrial boundaries --json`` shape).

        Infinite bounds (no stop possible at that look) are written as None (JSON null).
        """
        return {
            "information": _json_list(self.information),
            "efficacy_z": _json_list(self.efficacy_z),
            "futility_z": None if self.futility_z is None else _json_list(self.futility_z),
            "nominal_p": _json_list(self.nominal_p),
            "alpha_spent": _json_list(self.alpha_spent),
            "cumulative_alpha": _json_list(self.cumulative_alpha),
            "inflation_factor": float(self.inflation_factor),
            "beta_spent": None if self.beta_spent is None else _json_list(self.beta_spent),
            "drift": float(self.drift),
            "alpha": float(self.alpha),
            "beta": float(self.beta),
            "binding": bool(self.binding),
            "efficacy": self.efficacy,
            "efficacy_parameter": self.efficacy_parameter,
            "futility": self.futility,
            "futility_parameter": self.futility_parameter,
        }


def _json_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


# --------------------------------------------------------------------------- validation


def _check_looks(looks: ArrayLike) -> np.ndarray:
    t = check_information(looks, name="looks")
    if np.any(t > 1.0 + 1e-12) or abs(t[-1] - 1.0) > 1e-9:
        raise UsageError(
            "looks",
            f"must be information fractions in (0, 1] ending at 1.0, found {t.tolist()}; "
            "e.g. [0.33, 0.67, 1.0], or [1.0] for a fixed design",
        )
    t = t.copy()
    t[-1] = 1.0
    return t


def _check_alpha_beta(alpha: float, beta: float | None) -> None:
    if not 0.0 < alpha < 0.5:
        raise UsageError("alpha", f"(one-sided) must lie in (0, 0.5), found {alpha}")
    if beta is not None and not 0.0 < beta < 1.0 - alpha:
        raise UsageError("beta", f"must lie in (0, 1 - alpha), found {beta} (power = 1 - beta)")


# --------------------------------------------------------------------------- one-look solvers


def _solve_upper(rec: _Recursion, target: float) -> float:
    """Upper bound b with P(continue so far, Z ≥ b) = target at the next look of ``rec``."""
    if target <= 0.0:
        return math.inf
    mass = rec.mass()
    if target >= mass * (1.0 - 1e-12):
        raise InfeasibleDesignError(
            f"cannot spend {target:.3g} of alpha at look {rec.k + 1}: only {mass:.3g} of "
            "the probability under H0 reaches that look. Try 1) non-binding futility, "
            "2) a less aggressive futility spending function, or 3) fewer early looks"
        )
    mean = rec.mean_next()
    if rec.k == 0:  # closed form at the first look
        return float(mean - ndtri(target))
    if rec.upper(_Z_MAX) >= target:  # a spend below ~1e-300: no efficacy stop possible
        return math.inf

    def excess(b: float) -> float:
        return rec.upper(b) - target

    # the first-crossing probability is at most the marginal tail, so the root lies
    # at or below the marginal quantile
    hi = min(float(mean - ndtri(target)) + 1e-6, _Z_MAX)
    while excess(hi) > 0.0 and hi < _Z_MAX:  # integration error of ~1e-9 can exceed the tail
        hi = min(hi + 0.5, _Z_MAX)
    lo = hi - 1.0
    while excess(lo) <= 0.0:
        lo -= 1.0
        if lo < -_Z_MAX:
            raise ConvergenceError(f"no efficacy bound found at look {rec.k + 1}")
    return float(_brentq(excess, lo, hi, xtol=_XTOL, rtol=4 * np.finfo(float).eps, maxiter=200))


def _solve_lower(rec: _Recursion, target: float, cap: float) -> float:
    """Lower bound a ≤ cap with P(continue so far, Z < a) = target at the next look.

    If even a = cap spends less than ``target``, the bound is ``cap`` (the futility bound
    may not exceed the efficacy bound; gsDesign does the same).
    """
    if target <= 0.0:
        return -math.inf
    if rec.lower(cap) <= target:
        return cap
    mean = rec.mean_next()
    if rec.k == 0:
        return float(mean + ndtri(target))

    def excess(a: float) -> float:
        return rec.lower(a) - target

    # the probability is at most the marginal one, so the root lies at or above the
    # marginal quantile, and at or below the cap
    lo = max(float(mean + ndtri(target)) - 1e-6, -_Z_MAX)
    while excess(lo) > 0.0 and lo > -_Z_MAX:  # integration error can exceed the marginal
        lo = max(lo - 0.5, -_Z_MAX)
    hi = lo + 1.0
    while hi < cap and excess(hi) < 0.0:
        hi += 1.0
    hi = min(hi, cap)
    return float(_brentq(excess, lo, hi, xtol=_XTOL, rtol=4 * np.finfo(float).eps, maxiter=200))


# --------------------------------------------------------------------------- efficacy bounds


def _spending_efficacy(
    t: np.ndarray,
    alpha: float,
    family: str,
    parameter: float | None,
    futility_z: np.ndarray | None,
    final: bool = True,
    r: int = GRID_R,
) -> np.ndarray:
    """Efficacy bounds from alpha spending; futility bounds (binding) in place under H0."""
    cumulative = spending_function(family, np.minimum(t, 1.0), alpha, parameter)
    if final:
        cumulative[-1] = alpha
    # the joint distribution depends only on the ratios t_j/t_k, so observed fractions
    # need not end at 1
    rec = _Recursion(t / t[-1], 0.0, r)
    b = np.empty(t.size)
    spent = 0.0
    for k in range(t.size):
        # target the spending function cumulatively, so a spend too small to represent
        # at one look is carried to the next
        b[k] = _solve_upper(rec, cumulative[k] - spent)
        spent += rec.upper(b[k])
        if k < t.size - 1:
            a = -math.inf if futility_z is None else min(futility_z[k], b[k])
            rec.advance(a, b[k])
    return b


def _wang_tsiatis_efficacy(
    t: np.ndarray,
    alpha: float,
    delta: float,
    futility_z: np.ndarray | None,
    r: int = GRID_R,
) -> np.ndarray:
    """Wang–Tsiatis bounds c·t^(Δ−0.5), c solved so the total alpha (H0) is ``alpha``."""
    shape = t ** (delta - 0.5)

    def excess(c: float) -> float:
        rec = _Recursion(t, 0.0, r)
        total = 0.0
        for k in range(t.size):
            b = c * shape[k]
            total += rec.upper(b)
            if k < t.size - 1:
                a = -math.inf if futility_z is None else min(futility_z[k], b)
                rec.advance(a, b)
        return total - alpha

    # total ≥ P(Z_K ≥ c) (t_K = 1), so c ≥ z_{1−α}; and total ≤ Σ_k P(Z_k ≥ c·shape_k)
    lo = float(-ndtri(alpha)) / float(shape.max()) * 0.999
    lo = min(lo, float(-ndtri(alpha)))
    hi = float(-ndtri(alpha / t.size)) / float(shape.min()) + 1e-6
    while excess(hi) > 0.0:
        hi *= 1.5
        if hi > 1e3:
            raise ConvergenceError("no Wang-Tsiatis constant found")
    while excess(lo) < 0.0:
        lo *= 0.5
    c = _brentq(excess, lo, hi, xtol=_XTOL, rtol=4 * np.finfo(float).eps, maxiter=200)
    return c * shape


def _efficacy_bounds(
    t: np.ndarray,
    alpha: float,
    family: str,
    parameter: float | None,
    futility_z: np.ndarray | None = None,
    final: bool = True,
    r: int = GRID_R,
) -> np.ndarray:
    if family == "wang-tsiatis":
        assert parameter is not None
        return _wang_tsiatis_efficacy(t, alpha, parameter, futility_z, r)
    return _spending_efficacy(t, alpha, family, parameter, futility_z, final, r)


def efficacy_bounds_at(
    observed_fractions: ArrayLike,
    alpha: float,
    efficacy: str = "lan-demets-obrien-fleming",
    efficacy_parameter: float | None = None,
    *,
    final: bool | None = None,
) -> np.ndarray:
    """Efficacy z bounds recomputed at the information fractions actually observed.

    ``observed_fractions`` are the observed information at each look so far divided by
    the planned maximum information. The spending function is evaluated there (at
    min(t, 1)); when ``final`` (by default: when the last fraction is ≥ 1) the last look
    spends all the alpha that remains, whatever its information. The correlation
    between looks uses the observed fractions. Futility bounds are ignored
    (non-binding), as for the planned design.

    For ``wang-tsiatis`` the looks given are taken as the whole design when ``final``;
    otherwise a final look at t = 1 is assumed after them.

    References: Lan & DeMets 1983; Jennison & Turnbull 2000, ch. 7 and 19.
    """
    _check_alpha_beta(alpha, None)
    parameter = check_family(efficacy, efficacy_parameter, "efficacy")
    t = check_information(observed_fractions, name="observed_fractions")
    is_final = bool(t[-1] >= 1.0 - 1e-12) if final is None else bool(final)
    if efficacy == "wang-tsiatis":
        assert parameter is not None
        if is_final:
            return _wang_tsiatis_efficacy(t / t[-1], alpha, parameter, None)
        if t[-1] >= 1.0:
            raise CstrialError(
                "wang-tsiatis: observed fractions reach 1.0, so the last look is final; "
                "pass final=True or fractions below 1.0 for interim looks"
            )
        full = np.append(t, 1.0)
        return _wang_tsiatis_efficacy(full, alpha, parameter, None)[:-1]
    return _spending_efficacy(t, alpha, efficacy, parameter, None, is_final)


# --------------------------------------------------------------------------- futility and drift


@dataclass
class _Pass:
    """One evaluation of the design at a trial drift."""

    efficacy_z: np.ndarray
    futility_z: np.ndarray
    power: float


def _pass_nonbinding(
    t: np.ndarray,
    efficacy_z: np.ndarray,
    beta_cumulative: np.ndarray | None,
    drift: float,
    r: int = GRID_R,
) -> _Pass:
    """Futility bounds by beta spending under ``drift``, efficacy bounds fixed."""
    rec = _Recursion(t, drift, r)
    k_max = t.size
    a = np.full(k_max, -math.inf)
    power = 0.0
    for k in range(k_max):
        b = efficacy_z[k]
        power += rec.upper(b)
        if k < k_max - 1:
            if beta_cumulative is not None:
                # incremental beta spending, as gsDesign: an interim whose bound is capped
                # at the efficacy bound spends less, and the final look takes the rest
                target = beta_cumulative[k] - (beta_cumulative[k - 1] if k else 0.0)
                a[k] = _solve_lower(rec, target, cap=b)
            rec.advance(a[k], b)
    a[-1] = efficacy_z[-1]
    return _Pass(efficacy_z, a, power)


def _pass_binding(
    t: np.ndarray,
    alpha: float,
    family: str,
    parameter: float | None,
    beta_cumulative: np.ndarray,
    drift: float,
    r: int = GRID_R,
) -> _Pass:
    """Efficacy (under H0, futility in place) and futility (under ``drift``) look by look."""
    alpha_cumulative = spending_function(family, t, alpha, parameter)
    alpha_cumulative[-1] = alpha
    rec0 = _Recursion(t, 0.0, r)
    rec1 = _Recursion(t, drift, r)
    k_max = t.size
    a = np.full(k_max, -math.inf)
    b = np.empty(k_max)
    spent = 0.0
    power = 0.0
    for k in range(k_max):
        b[k] = _solve_upper(rec0, alpha_cumulative[k] - spent)
        spent += rec0.upper(b[k])
        power += rec1.upper(b[k])
        if k < k_max - 1:
            target = beta_cumulative[k] - (beta_cumulative[k - 1] if k else 0.0)
            a[k] = _solve_lower(rec1, target, cap=b[k])
            rec0.advance(a[k], b[k])
            rec1.advance(a[k], b[k])
    a[-1] = b[-1]
    return _Pass(b, a, power)


def _solve_drift(evaluate: Callable[[float], _Pass], alpha: float, beta: float) -> float:
    """Drift at which ``evaluate(drift).power`` equals 1 − β.

    A group-sequential test at level α is never more powerful than the fixed-sample
    test with the same maximum information (Neyman–Pearson), so the root lies at or
    above the fixed-design drift z_{1−α} + z_{1−β}.
    """
    target = 1.0 - beta
    fixed = float(-ndtri(alpha) - ndtri(beta))

    def shortfall(drift: float) -> float:
        try:
            return evaluate(drift).power - target
        except InfeasibleDesignError:
            # binding futility: at a drift far above the root the futility bounds leave
            # too little probability under H0 to spend the alpha; such a drift is
            # "too large", like one with excess power
            return 1.0

    lo = fixed
    if shortfall(lo) >= 0.0:
        return lo
    hi = fixed * 1.1
    while shortfall(hi) < 0.0:
        lo, hi = hi, hi * 1.1
        if hi > 100.0 * fixed:
            raise InfeasibleDesignError(
                f"power {target:.3g} cannot be reached with these boundaries at any "
                "information up to 10^4 times the fixed design's. Try 1) a less "
                "conservative futility spending function, or 2) fewer looks"
            )
    try:
        root = float(_brentq(shortfall, lo, hi, xtol=1e-10, rtol=4 * np.finfo(float).eps))
    except (ValueError, RuntimeError) as exc:  # pragma: no cover - defensive
        raise ConvergenceError(f"drift search for power {target:.3g} failed: {exc}") from None
    if abs(shortfall(root)) > 1e-7:
        raise ConvergenceError(
            f"drift search for power {target:.3g} stopped at a discontinuity (drift "
            f"{root:.4g}, power off by {shortfall(root):.2g}); the futility spending "
            "leaves too little probability to spend the alpha. Try 1) non-binding "
            "futility, or 2) a less aggressive futility spending function"
        )
    return root


def group_sequential_boundaries(
    looks: Sequence[float] | ArrayLike,
    alpha: float,
    efficacy: str = "lan-demets-obrien-fleming",
    efficacy_parameter: float | None = None,
    futility: str | None = None,
    futility_parameter: float | None = None,
    binding: bool = False,
    beta: float = 0.2,
) -> Boundaries:
    """Efficacy (and optionally futility) boundaries of a one-sided group-sequential design.

    Parameters
    ----------
    looks
        Information fractions of the analyses, strictly increasing, ending at 1.0.
    alpha
        One-sided type I error.
    efficacy, efficacy_parameter
        Alpha-spending family (see `SPENDING_FAMILIES`) and its parameter (gamma for
        hwang-shih-decani, rho for kim-demets, delta for wang-tsiatis).
    futility, futility_parameter
        Beta-spending family for futility bounds (None or ``"none"``: no futility).
    binding
        Whether futility bounds are binding: if True the efficacy bounds are computed
        with the futility bounds in place under H0 (and so are lower).
    beta
        Type II error (power 1 − β) at the design alternative; sets ``drift`` and, with
        futility, the beta spent.

    References: Lan & DeMets 1983; Wang & Tsiatis 1987; Kim & DeMets 1987; Hwang, Shih
    & DeCani 1990; Jennison & Turnbull 2000, ch. 7 and 19.
    """
    t = _check_looks(looks)
    _check_alpha_beta(alpha, beta)
    efficacy_par = check_family(efficacy, efficacy_parameter, "efficacy")
    has_futility = futility is not None and futility != "none"
    futility_par = None
    if has_futility:
        assert futility is not None
        futility_par = check_family(futility, futility_parameter, "futility")
        problem = futility_problem(futility, binding, efficacy)
        if problem is not None:
            raise UsageError("futility", problem)
    k_max = t.size
    fixed_drift = float(-ndtri(alpha) - ndtri(beta))

    if k_max == 1:
        b = np.array([float(-ndtri(alpha))])
        return _assemble(
            t,
            b,
            b.copy() if has_futility else None,
            fixed_drift,
            alpha,
            beta,
            binding,
            efficacy,
            efficacy_par,
            futility if has_futility else None,
            futility_par,
        )

    if not has_futility:
        b = _efficacy_bounds(t, alpha, efficacy, efficacy_par)
        drift = _solve_drift(lambda d: _pass_nonbinding(t, b, None, d), alpha, beta)
        return _assemble(t, b, None, drift, alpha, beta, False, efficacy, efficacy_par, None, None)

    assert futility is not None
    beta_cumulative = spending_function(futility, t, beta, futility_par)
    if binding:

        def evaluate(d: float) -> _Pass:
            return _pass_binding(t, alpha, efficacy, efficacy_par, beta_cumulative, d)

    else:
        b = _efficacy_bounds(t, alpha, efficacy, efficacy_par)

        def evaluate(d: float) -> _Pass:
            return _pass_nonbinding(t, b, beta_cumulative, d)

    drift = _solve_drift(evaluate, alpha, beta)
    final = evaluate(drift)
    return _assemble(
        t,
        final.efficacy_z,
        final.futility_z,
        drift,
        alpha,
        beta,
        binding,
        efficacy,
        efficacy_par,
        futility,
        futility_par,
    )


def _assemble(
    t: np.ndarray,
    efficacy_z: np.ndarray,
    futility_z: np.ndarray | None,
    drift: float,
    alpha: float,
    beta: float,
    binding: bool,
    efficacy: str,
    efficacy_parameter: float | None,
    futility: str | None,
    futility_parameter: float | None,
) -> Boundaries:
    h0_lower = futility_z if (binding and futility_z is not None) else None
    alpha_spent, _ = crossing_probabilities(efficacy_z, h0_lower, t, 0.0)
    beta_spent = None
    if futility_z is not None:
        _, beta_spent = crossing_probabilities(efficacy_z, futility_z, t, drift)
    fixed_drift = float(-ndtri(alpha) - ndtri(beta))
    efficacy_z = np.asarray(efficacy_z, dtype=float)
    return Boundaries(
        information=_frozen(t),
        efficacy_z=_frozen(efficacy_z),
        futility_z=None if futility_z is None else _frozen(futility_z),
        nominal_p=_frozen(ndtr(-efficacy_z)),
        alpha_spent=_frozen(alpha_spent),
        cumulative_alpha=_frozen(np.cumsum(alpha_spent)),
        beta_spent=None if beta_spent is None else _frozen(beta_spent),
        inflation_factor=(drift / fixed_drift) ** 2,
        drift=float(drift),
        binding=bool(binding and futility_z is not None),
        alpha=float(alpha),
        beta=float(beta),
        efficacy=efficacy,
        efficacy_parameter=efficacy_parameter,
        futility=futility,
        futility_parameter=futility_parameter,
    )


def _frozen(values: ArrayLike) -> np.ndarray:
    out = np.array(values, dtype=float)
    out.flags.writeable = False
    return out


def _brentq(*args: object, **kwargs: object) -> float:
    # scipy.optimize is imported on first use: simulation workers import this module
    # (for conditional power) but never solve for a bound
    from scipy.optimize import brentq

    return brentq(*args, **kwargs)


def design_boundaries(
    design: Design, looks: Sequence[float], alpha: float, power: float | None = None
) -> Boundaries:
    """The bounds of a protocol's `design` at information fractions `looks` and `alpha`.

    Efficacy and futility families as the protocol gives them; beta-spending
    futility is computed for power `power` (default `design.power`).
    """
    futility = design.futility
    spending = None if futility is None or futility.spending == "none" else futility.spending
    return group_sequential_boundaries(
        looks=looks,
        alpha=alpha,
        efficacy=design.efficacy.spending,
        efficacy_parameter=design.efficacy.parameter,
        futility=spending,
        futility_parameter=None if spending is None or futility is None else futility.parameter,
        binding=False if futility is None else futility.binding,
        beta=1.0 - (design.power if power is None else power),
    )
