"""Bayesian decision rules: posterior probabilities of benefit, and their calibration.

A Bayesian design (REMAP-CAP style) stops at a look when the posterior probability that
treatment beats a threshold crosses a bound: efficacy when P(benefit) > 0.99, futility
when P(effect better than a clinically important one) < 0.05, evaluated at every look.
Two families of primary endpoint are covered:

* a binary primary (an event that is harmful, e.g. death by day 28): independent beta
  priors on each arm's risk, conjugate with the binomial likelihood, and the exact
  posterior probability that the treatment's risk is below the control's by more than a
  margin (`beta_binomial_posterior_probability`);
* an effect estimated on the log scale (log odds ratio of the proportional-odds model,
  log hazard ratio of the Cox model or the log-rank test): a normal prior on the log
  effect and the likelihood approximated by N(estimate, se^2), the normal approximation
  the estimate's own Wald test uses (`normal_posterior_probability`).

Every function is vectorised over replicate trials (and looks): arrays in, arrays out.
`calibrate_threshold` finds, from posterior probabilities simulated under the null, the
smallest efficacy threshold whose type I error is at most a target.

References: Berry, Carlin, Lee & Müller 2010, Bayesian Adaptive Methods for Clinical
Trials, ch. 2 and 4; Spiegelhalter, Abrams & Myles 2004, Bayesian Approaches to Clinical
Trials and Health-Care Evaluation, §3.3 (normal approximation) and §6.6; REMAP-CAP
Investigators 2020, Ann Am Thorac Soc 17:879 (design); FDA 2019, Adaptive Designs for
Clinical Trials of Drugs and Biologics, §VI.C (calibrating Bayesian designs by
simulation).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betainc, betaincinv, betaln, ndtr

from cstrial.errors import CstrialError

#: Posterior mass left out beyond each end of the integration range (at most 2x this
#: in absolute error).
_TAIL = 1e-14
#: Gauss–Legendre nodes for integrands analytic near the integration range.
_GAUSS_NODES = 48
#: Tanh-sinh step and half-range (113 nodes) for integrands with a singularity at or
#: near an end of the range.
_TANH_SINH_STEP = 1.0 / 16.0
_TANH_SINH_RANGE = 3.5
#: A singularity at least this many range-widths away leaves Gauss–Legendre exact to
#: ~1e-12 with `_GAUSS_NODES` nodes.
_CLEARANCE = 0.25


# --------------------------------------------------------------------------- binary


def beta_binomial_posterior_probability(
    events_c: ArrayLike,
    n_c: ArrayLike,
    events_t: ArrayLike,
    n_t: ArrayLike,
    prior: tuple[float, float] = (1.0, 1.0),
    margin: ArrayLike = 0.0,
) -> np.ndarray:
    """P(p_t < p_c - margin | data) for independent beta posteriors of the two risks.

    Parameters
    ----------
    events_c, n_c, events_t, n_t : events (harmful, e.g. deaths) and patients on control
        and on treatment; integer arrays broadcast against each other, e.g. (R,) or
        (R, looks). An arm with n = 0 keeps its prior.
    prior : (a, b), the Beta(a, b) prior on each arm's risk, e.g. (1, 1), uniform.
    margin : how much lower the treatment's risk must be, a risk difference (0 = any
        benefit; 0.05 = at least 5 points); negative for non-inferiority. Broadcast too.

    Returns the posterior probabilities, of the broadcast shape.

    Each risk's posterior is Beta(a + events, b + n - events), and
    P(p_t < p_c - m) = integral of f_c(x) I_(x - m)(a_t, b_t) dx, with f_c the control
    posterior's density and I the regularised incomplete beta function (the treatment
    posterior's cdf); the equivalent integral over p_t is used when the treatment
    posterior is the narrower one. The integral runs over the central 1 - 2e-14 of the
    posterior (Beta quantiles) by Gauss–Legendre quadrature with 48 nodes where the
    integrand is analytic near that range (every integer prior, such as Beta(1, 1), and
    most others), and by tanh-sinh quadrature (113 nodes) where a non-integer shape puts a
    singularity at or near one of its ends. Accurate to ~1e-10 against adaptive quadrature
    and, for margin 0 and whole-number shapes, Cook's closed-form sum.
    References: Berry et al. 2010, §2.2; J. D. Cook, Exact calculation of beta
    inequalities (technical report, UT MD Anderson Cancer Center, Department of
    Biostatistics); Takahasi & Mori 1974, Publ RIMS 9:721 (tanh-sinh quadrature).
    """
    a, b = _beta_prior(prior)
    e_c, n_c_, e_t, n_t_ = _counts(events_c, n_c, events_t, n_t)
    margin = np.asarray(margin, dtype=float)
    if not np.isfinite(margin).all():
        raise CstrialError(f"margin must be a finite risk difference, found {margin}")
    e_c, n_c_, e_t, n_t_, margin = np.broadcast_arrays(e_c, n_c_, e_t, n_t_, margin)
    shape = e_c.shape
    alpha_c, beta_c = a + e_c.ravel(), b + (n_c_ - e_c).ravel()
    alpha_t, beta_t = a + e_t.ravel(), b + (n_t_ - e_t).ravel()
    m = margin.ravel()
    out = np.empty(m.size)
    # P(p_t < p_c - m) for m < 0 is 1 - P(p_c < p_t - |m|): the arms swapped
    ahead = m >= 0
    out[ahead] = _below(alpha_c[ahead], beta_c[ahead], alpha_t[ahead], beta_t[ahead], m[ahead])
    behind = ~ahead
    out[behind] = 1.0 - _below(
        alpha_t[behind], beta_t[behind], alpha_c[behind], beta_c[behind], -m[behind]
    )
    return np.clip(out, 0.0, 1.0).reshape(shape)


def _beta_prior(prior: object) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in prior)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise CstrialError(
            f"prior must be two numbers (a, b) of a Beta(a, b) prior, e.g. (1, 1), found {prior!r}"
        ) from None
    for name, value in (("prior[0] (a)", a), ("prior[1] (b)", b)):
        if not (math.isfinite(value) and value > 0):
            raise CstrialError(
                f"{name}: must be > 0 and finite, found {value}; Beta(1, 1) is uniform, "
                "Beta(0.5, 0.5) is Jeffreys'"
            )
    return a, b


def _counts(*arrays: ArrayLike) -> list[np.ndarray]:
    names = ("events_c", "n_c", "events_t", "n_t")
    out = []
    for name, array in zip(names, arrays, strict=True):
        values = np.asarray(array, dtype=float)
        if not (np.isfinite(values).all() and (values == np.round(values)).all()):
            raise CstrialError(f"{name} must be whole numbers, found {array!r}")
        if (values < 0).any():
            raise CstrialError(f"{name} must be >= 0, found {values.min()}")
        out.append(values)
    for events, n, arm in ((out[0], out[1], "control"), (out[2], out[3], "treatment")):
        if (np.broadcast_to(events, np.broadcast(events, n).shape) > n).any():
            raise CstrialError(f"the {arm} arm has more events than patients")
    return out


def _below(
    alpha_c: np.ndarray, beta_c: np.ndarray, alpha_t: np.ndarray, beta_t: np.ndarray, m: np.ndarray
) -> np.ndarray:
    """P(p_t < p_c - m), m >= 0, for p_c ~ Beta(alpha_c, beta_c), p_t ~ Beta(alpha_t, beta_t)."""
    lo_c, top_c = betaincinv(alpha_c, beta_c, _TAIL), betaincinv(beta_c, alpha_c, _TAIL)
    lo_t, top_t = betaincinv(alpha_t, beta_t, _TAIL), betaincinv(beta_t, alpha_t, _TAIL)
    # integrate over the narrower posterior: the other's cdf is then smooth across it
    over_c = (1.0 - top_c - lo_c) <= (1.0 - top_t - lo_t)
    # the variable v ~ Beta(a, b) on [lo, 1 - top] (`top` = 1 - upper end, kept apart for
    # precision near 1); the other factor is I_arg(h_a, h_b), with arg = (v - m) over p_c
    # (zero below v = m) and arg = 1 - v - m over p_t (zero above v = 1 - m)
    a = np.where(over_c, alpha_c, alpha_t)
    b = np.where(over_c, beta_c, beta_t)
    h_a = np.where(over_c, alpha_t, beta_c)
    h_b = np.where(over_c, beta_t, alpha_c)
    lo = np.where(over_c, np.maximum(lo_c, m), lo_t)
    top = np.where(over_c, top_c, np.maximum(top_t, m))
    width = 1.0 - top - lo
    # Where the integrand can be singular: the density at v = 0 and v = 1 (non-integer
    # a or b), the other cdf where its argument is 0 or 1 (non-integer h_a or h_b). A
    # singularity well clear of [lo, 1 - top] leaves the integrand analytic there.
    zero_arg = np.where(over_c, m, 1.0 - m)  # v where arg = 0
    one_arg = np.where(over_c, 1.0 + m, -m)  # v where arg = 1
    clear = np.ones(a.shape, bool)
    for point, shape in ((0.0, a), (1.0, b), (zero_arg, h_a), (one_arg, h_b)):
        distance = np.maximum(np.maximum(lo - point, point - (1.0 - top)), 0.0)
        clear &= (shape == np.round(shape)) | (distance >= _CLEARANCE * width)
    out = np.zeros(a.shape)
    empty = width <= 0.0  # the margin cuts the whole posterior off
    for rule, rows in (
        (_gauss_legendre(), clear & ~empty),
        (_tanh_sinh(), ~clear & ~empty),
    ):
        if rows.any():
            left, right, weight = rule
            w = width[rows, None]
            v = lo[rows, None] + w * left  # v, and 1 - v, each to full precision
            one_minus_v = top[rows, None] + w * right
            log_density = (
                (a[rows, None] - 1.0) * np.log(v)
                + (b[rows, None] - 1.0) * np.log(one_minus_v)
                - betaln(a[rows], b[rows])[:, None]
            )
            argument = np.where(
                over_c[rows, None],
                (lo[rows] - m[rows])[:, None] + w * left,
                (top[rows] - m[rows])[:, None] + w * right,
            )
            other = betainc(h_a[rows, None], h_b[rows, None], np.clip(argument, 0.0, 1.0))
            out[rows] = width[rows] * ((np.exp(log_density) * other) @ weight)
    return out


def _gauss_legendre() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes as fractions of the range from the left and from the right, and weights."""
    x, w = np.polynomial.legendre.leggauss(_GAUSS_NODES)
    return (1.0 + x) / 2.0, (1.0 - x) / 2.0, w / 2.0


def _tanh_sinh() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tanh-sinh nodes, v = (1 + tanh(pi/2 sinh s)) / 2, as fractions from each end."""
    s = np.arange(-_TANH_SINH_RANGE, _TANH_SINH_RANGE + _TANH_SINH_STEP / 2, _TANH_SINH_STEP)
    y = np.pi / 2.0 * np.sinh(s)
    left = 1.0 / (1.0 + np.exp(-2.0 * y))  # (1 + tanh y) / 2, without cancellation
    right = 1.0 / (1.0 + np.exp(2.0 * y))
    weight = _TANH_SINH_STEP * np.pi / 2.0 * np.cosh(s) * 2.0 * left * right
    return left, right, weight


# --------------------------------------------------------------------------- normal


def normal_posterior_probability(
    estimate_log: ArrayLike,
    se: ArrayLike,
    prior_mean: float,
    prior_sd: float,
    threshold_log: ArrayLike = 0.0,
    higher_is_better: bool = True,
) -> np.ndarray:
    """P(effect better than a threshold | data), normal prior, normal-approximation likelihood.

    Parameters
    ----------
    estimate_log, se : the estimate of the effect on the log scale and its standard
        error, per replicate (and look), e.g. `proportional_odds`' log_or and se or
        `cox_treatment`'s log_hr and se. A NaN estimate, or a NaN or infinite SE, is a
        replicate without evidence (see below).
    prior_mean, prior_sd : the normal prior on the log effect, e.g. 0 and 1.5.
    threshold_log : the threshold on the log scale, log(above): 0 for "any benefit",
        log(1.2) for an odds ratio above 1.2.
    higher_is_better : True for effects where larger is better, the odds ratio of a
        better outcome (proportional odds, OR > 1 favours treatment): returns
        P(theta > threshold_log). False for the hazard ratio (HR < 1 favours treatment):
        returns P(theta < threshold_log).

    The likelihood of the log effect theta is taken as N(estimate, se^2), the normal
    approximation behind the estimate's Wald test; with the N(m0, s0^2) prior the
    posterior is normal with precision 1/s0^2 + 1/se^2 and mean the precision-weighted
    average (m0/s0^2 + estimate/se^2) / (1/s0^2 + 1/se^2).

    No evidence. Where the analysis gave no estimate (NaN: an empty arm, separation, a
    fit that failed), the likelihood is absent and the posterior is the prior: the
    probability returned is the prior probability, as a Bayesian analysis with no data
    would report. With a sceptical prior this stops neither for efficacy nor for futility;
    note that it also treats separation, which is strong evidence that the normal
    approximation cannot express, as no evidence, so that replicate goes on to the next
    look.
    References: Spiegelhalter et al. 2004, §3.3; Berry et al. 2010, §2.4.
    """
    m0, s0 = float(prior_mean), float(prior_sd)
    if not math.isfinite(m0):
        raise CstrialError(f"prior_mean must be finite, found {prior_mean}")
    if not (math.isfinite(s0) and s0 > 0):
        raise CstrialError(
            f"prior_sd must be > 0 and finite, found {prior_sd}; e.g. 1.5 on the log odds "
            "ratio is weakly informative"
        )
    estimate, se_, threshold = np.broadcast_arrays(
        np.asarray(estimate_log, dtype=float),
        np.asarray(se, dtype=float),
        np.asarray(threshold_log, dtype=float),
    )
    if not np.isfinite(threshold).all():
        raise CstrialError(f"threshold_log must be finite, found {threshold_log!r}")
    evidence = np.isfinite(estimate) & np.isfinite(se_)
    if (evidence & ~(se_ > 0)).any():
        raise CstrialError("se must be > 0 wherever the estimate is finite")
    data_precision = np.where(evidence, 1.0 / np.where(evidence, se_, 1.0) ** 2, 0.0)
    precision = 1.0 / s0**2 + data_precision
    mean = (m0 / s0**2 + data_precision * np.where(evidence, estimate, 0.0)) / precision
    z = (mean - threshold) * np.sqrt(precision)
    return ndtr(z if higher_is_better else -z)


# --------------------------------------------------------------------------- calibration


class ThresholdCalibration(NamedTuple):
    """The efficacy threshold found by `calibrate_threshold`.

    threshold : stop for efficacy at a look when the posterior probability exceeds it;
    achieved : the rejection rate it gives on the simulated null trials (<= target);
    se : the Monte Carlo SE of `achieved`, sqrt(achieved (1 - achieved) / R).
    """

    threshold: float
    achieved: float
    se: float


def calibrate_threshold(
    posteriors: ArrayLike, target: float, futility: ArrayLike | None = None
) -> ThresholdCalibration:
    """The smallest efficacy threshold whose type I error, on simulated null trials, is <= target.

    Parameters
    ----------
    posteriors : (R, K) posterior probabilities of benefit at each of K looks of R trials
        simulated under the null (NaN: no decision at that look).
    target : the type I error allowed, e.g. 0.025.
    futility : (R, K) bool, True where the trial stops for futility at that look (after
        the efficacy check at the same look), or None for no futility stopping.

    A trial rejects when, at some look before or at its futility stop, its posterior
    probability exceeds the threshold c (strictly: P > c). Its largest posterior over
    those looks, M_r, decides: it rejects exactly when M_r > c, so the rejection rate is
    #{M_r > c} / R, a step function of c. The smallest c with at most A = floor(target R)
    rejections is the (A + 1)-th largest M_r: exact on the sample, found by one sort.
    References: Berry et al. 2010, §2.5.4; FDA 2019, §VI.C.
    """
    p = np.asarray(posteriors, dtype=float)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[0] == 0:
        raise CstrialError(f"posteriors must be (replicates, looks), found shape {p.shape}")
    if not (0.0 < target < 1.0):
        raise CstrialError(f"target must lie in (0, 1), found {target}")
    n_reps = p.shape[0]
    considered = np.ones(p.shape, bool)
    if futility is not None:
        stop = np.asarray(futility, dtype=bool)
        if stop.ndim == 1:
            stop = stop[:, None]
        if stop.shape != p.shape:
            raise CstrialError(
                f"futility must have the shape of posteriors, {p.shape}, found {stop.shape}"
            )
        # looks after the first futility stop are never reached
        stopped_before = np.cumsum(stop, axis=1) - stop > 0
        considered = ~stopped_before
    decisive = np.where(considered & ~np.isnan(p), p, -np.inf).max(axis=1)
    allowed = math.floor(target * n_reps)
    if (allowed + 1) / n_reps <= target:  # floor of a product that rounded down
        allowed += 1
    ordered = np.sort(decisive)[::-1]
    threshold = max(float(ordered[allowed]), 0.0)
    achieved = float(np.count_nonzero(decisive > threshold)) / n_reps
    return ThresholdCalibration(
        threshold=threshold,
        achieved=achieved,
        se=math.sqrt(achieved * (1.0 - achieved) / n_reps),
    )
