"""Posterior probabilities of benefit equal independent computations; thresholds are exact.

* beta-binomial: against scipy.integrate.quad (QUADPACK: adaptive Gauss–Kronrod split
  at the posteriors' quantiles, or the algebraic-weight rule where a density is
  unbounded) on random trials, priors and margins, to 1e-8; against Cook's closed-form
  sum (J. D. Cook, Exact calculation of beta inequalities, UT MD Anderson technical
  report; the formula Evan Miller popularised) for whole-number shapes and margin 0,
  to 1e-12; against
  10 million draws from the two posteriors, within 4 Monte Carlo SE;
* normal: against the posterior written as the precision-weighted form with scipy.stats,
  against quad over prior x likelihood, and against importance sampling from the prior;
* calibration: against a brute-force scan of every candidate threshold, replaying the
  sequential stopping rule trial by trial.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import betainc, betaln

from cstrial.design.bayesian import (
    ThresholdCalibration,
    beta_binomial_posterior_probability,
    calibrate_threshold,
    normal_posterior_probability,
)
from cstrial.errors import CstrialError

# --------------------------------------------------------------------------- beta-binomial


def quad_reference(e_c, n_c, e_t, n_t, prior, margin):
    """P(p_t < p_c - margin) by adaptive quadrature over p_c of f_c(x) F_t(x - margin).

    Where the control posterior's density is unbounded at an end of [max(margin, 0), 1]
    (a shape below 1), that end's power goes to quad's algebraic weight (QUADPACK's QAWS);
    otherwise QAGS, split at quantiles of both posteriors so that it sees where the mass is.
    """
    a, b = prior
    alpha_c, beta_c = a + e_c, b + n_c - e_c
    alpha_t, beta_t = a + e_t, b + n_t - e_t
    post_c = stats.beta(alpha_c, beta_c)  # for its quantiles; pdf and cdf from scipy.special
    post_t = stats.beta(alpha_t, beta_t)
    log_norm = betaln(alpha_c, beta_c)

    def cdf_t(y):
        return betainc(alpha_t, beta_t, min(max(y, 0.0), 1.0))

    lo = max(margin, 0.0)
    p = alpha_c - 1 if (lo == 0 and alpha_c < 1) else 0.0
    q = beta_c - 1 if beta_c < 1 else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        if p or q:

            def rest(x):  # the density without the weight's powers
                log_x = (alpha_c - 1 - p) * np.log(x) if alpha_c - 1 - p else 0.0
                log_1x = (beta_c - 1 - q) * np.log1p(-x) if beta_c - 1 - q else 0.0
                return cdf_t(x - margin) * np.exp(log_x + log_1x - log_norm)

            return integrate.quad(
                rest, lo, 1, weight="alg", wvar=(p, q), epsabs=1e-14, epsrel=1e-12, limit=2000
            )[0]
        lo, hi = max(lo, post_c.ppf(1e-17)), post_c.isf(1e-17)
        if lo >= hi:
            return 0.0
        points = [post_c.ppf(u) for u in (1e-9, 1e-4, 0.01, 0.1, 0.5, 0.9, 0.99, 1 - 1e-4)]
        points += [post_t.ppf(u) + margin for u in (1e-4, 0.01, 0.5, 0.99, 1 - 1e-4)]
        points = sorted({x for x in points if lo < x < hi})
        return integrate.quad(
            lambda x: (
                np.exp((alpha_c - 1) * np.log(x) + (beta_c - 1) * np.log1p(-x) - log_norm)
                * cdf_t(x - margin)
            ),
            lo,
            hi,
            epsabs=1e-14,
            epsrel=1e-13,
            limit=2000,
            points=points,
        )[0]


def cook_closed_form(alpha_c, beta_c, alpha_t, beta_t):
    """P(p_t < p_c) = sum_{i < alpha_c} B(alpha_t + i, beta_t + beta_c) /
    ((beta_c + i) B(1 + i, beta_c) B(alpha_t, beta_t)), alpha_c a whole number
    (Cook's recurrence summed; Evan Miller's formula for P(p_B > p_A), B = control)."""
    i = np.arange(int(alpha_c))
    terms = (
        betaln(alpha_t + i, beta_t + beta_c)
        - np.log(beta_c + i)
        - betaln(1 + i, beta_c)
        - betaln(alpha_t, beta_t)
    )
    return float(np.exp(terms).sum())


def random_trials(n_cases, seed):
    """Random trials: arms of 0 to 400, any risks, some with zero or all events."""
    rng = np.random.default_rng(seed)
    n_c = rng.integers(0, 400, n_cases)
    n_t = rng.integers(0, 400, n_cases)
    e_c = rng.binomial(n_c, rng.random(n_cases))
    e_t = rng.binomial(n_t, rng.random(n_cases))
    e_t[::6] = 0
    e_c[::7] = n_c[::7]
    n_t[::11] = e_t[::11] = 0
    return e_c, n_c, e_t, n_t


@pytest.mark.parametrize(
    ("prior", "margin"),
    [
        ((1.0, 1.0), 0.0),
        ((1.0, 1.0), 0.05),
        ((0.5, 0.5), 0.0),
        ((0.5, 0.5), 0.1),
        ((3.3, 16.7), 0.02),  # an informative prior: a risk near 0.165 worth 20 patients
        ((2.0, 8.0), -0.05),  # non-inferiority: treatment at most 5 points worse
    ],
)
def test_beta_binomial_matches_adaptive_quadrature(prior, margin):
    e_c, n_c, e_t, n_t = random_trials(60, seed=int(100 * prior[0] + 1000 * margin + 7))
    got = beta_binomial_posterior_probability(e_c, n_c, e_t, n_t, prior, margin)
    for i in range(e_c.size):
        if margin >= 0:
            want = quad_reference(e_c[i], n_c[i], e_t[i], n_t[i], prior, margin)
        else:  # P(p_t < p_c + m) = 1 - P(p_c < p_t - m)
            want = 1 - quad_reference(e_t[i], n_t[i], e_c[i], n_c[i], prior, -margin)
        assert got[i] == pytest.approx(want, abs=1e-8), (e_c[i], n_c[i], e_t[i], n_t[i])


def test_beta_binomial_equals_cooks_closed_form_at_margin_zero():
    e_c, n_c, e_t, n_t = random_trials(200, seed=1)
    for prior in ((1, 1), (2, 5)):
        got = beta_binomial_posterior_probability(e_c, n_c, e_t, n_t, prior)
        want = [
            cook_closed_form(prior[0] + ec, prior[1] + nc - ec, prior[0] + et, prior[1] + nt - et)
            for ec, nc, et, nt in zip(e_c, n_c, e_t, n_t, strict=True)
        ]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("trial", "prior", "margin"),
    [
        ((60, 150, 45, 150), (1.0, 1.0), 0.0),
        ((12, 40, 0, 35), (0.5, 0.5), 0.05),  # no event on treatment, Jeffreys prior
    ],
)
def test_beta_binomial_matches_ten_million_posterior_draws(trial, prior, margin):
    e_c, n_c, e_t, n_t = trial
    rng = np.random.default_rng(20261202)
    draws = 10_000_000
    p_c = rng.beta(prior[0] + e_c, prior[1] + n_c - e_c, draws)
    p_t = rng.beta(prior[0] + e_t, prior[1] + n_t - e_t, draws)
    monte_carlo = np.mean(p_t < p_c - margin)
    se = np.sqrt(monte_carlo * (1 - monte_carlo) / draws)
    exact = beta_binomial_posterior_probability(e_c, n_c, e_t, n_t, prior, margin)
    assert abs(exact - monte_carlo) < 4 * se


def test_beta_binomial_edge_cases_have_their_exact_values():
    p = beta_binomial_posterior_probability
    # no data in either arm: the priors; with Beta(1, 1) P(U_t < U_c - m) = (1 - m)^2 / 2
    assert p(0, 0, 0, 0) == pytest.approx(0.5, abs=1e-13)
    assert p(0, 0, 0, 0, margin=0.3) == pytest.approx(0.7**2 / 2, abs=1e-13)
    assert p(0, 0, 0, 0, margin=-0.3) == pytest.approx(1 - 0.7**2 / 2, abs=1e-13)
    # no data on treatment: its risk keeps the uniform prior, so P = E[p_c] = (e + 1)/(n + 2)
    assert p(7, 20, 0, 0) == pytest.approx(8 / 22, abs=1e-13)
    # all events on control, none on treatment: near-certain benefit
    assert p(50, 50, 0, 50) == pytest.approx(1.0, abs=1e-12)
    assert p(0, 50, 50, 50) == pytest.approx(0.0, abs=1e-12)
    # a margin no risk difference reaches, or any
    assert p(50, 50, 0, 50, margin=1.0) == 0.0
    assert p(0, 50, 50, 50, margin=-1.0) == 1.0
    # identical arms: one half, by symmetry, for any prior
    assert p(13, 40, 13, 40, prior=(0.5, 0.5)) == pytest.approx(0.5, abs=1e-12)


def test_beta_binomial_swapping_the_arms_gives_the_complement():
    e_c, n_c, e_t, n_t = random_trials(50, seed=2)
    for margin in (0.0, 0.04):
        a = beta_binomial_posterior_probability(e_c, n_c, e_t, n_t, (0.5, 0.5), margin)
        b = beta_binomial_posterior_probability(e_t, n_t, e_c, n_c, (0.5, 0.5), -margin)
        np.testing.assert_allclose(a + b, 1.0, atol=1e-10)


def test_beta_binomial_broadcasts_over_replicates_and_looks():
    rng = np.random.default_rng(3)
    n = np.array([[50, 100, 150]] * 4)
    e_c, e_t = rng.binomial(n, 0.4), rng.binomial(n, 0.3)
    got = beta_binomial_posterior_probability(e_c, n, e_t, n, margin=np.array([0.0, 0.0, 0.02]))
    assert got.shape == (4, 3)
    for r in range(4):
        for k in range(3):
            one = beta_binomial_posterior_probability(
                e_c[r, k], n[r, k], e_t[r, k], n[r, k], margin=[0.0, 0.0, 0.02][k]
            )
            assert got[r, k] == pytest.approx(float(one), abs=1e-15)


def test_beta_binomial_rejects_impossible_counts_and_priors():
    p = beta_binomial_posterior_probability
    with pytest.raises(CstrialError, match="control arm has more events than patients"):
        p(5, 4, 0, 4)
    with pytest.raises(CstrialError, match="events_t must be >= 0"):
        p(1, 4, -1, 4)
    with pytest.raises(CstrialError, match="n_c must be whole numbers"):
        p(1, 4.5, 1, 4)
    with pytest.raises(CstrialError, match=r"prior\[1\] \(b\): must be > 0"):
        p(1, 4, 1, 4, prior=(1, 0))
    with pytest.raises(CstrialError, match="two numbers"):
        p(1, 4, 1, 4, prior=1)


# --------------------------------------------------------------------------- normal

# (estimate_log, se, prior_mean, prior_sd, threshold_log)
NORMAL_CASES = [
    (0.25, 0.15, 0.0, 1.5, 0.0),
    (0.25, 0.15, 0.0, 1.5, np.log(1.2)),
    (-0.4, 0.3, 0.0, 0.5, 0.0),
    (1.2, 0.8, 0.2, 0.3, 0.1),
    (0.0, 2.0, -0.1, 1.0, -0.5),
]


def precision_weighted(estimate, se, m0, s0, threshold):
    """P(theta > threshold) with the posterior written as N((est s0^2 + m0 se^2)/(s0^2 +
    se^2), s0^2 se^2/(s0^2 + se^2)), a different arrangement of the same algebra."""
    mean = (estimate * s0**2 + m0 * se**2) / (s0**2 + se**2)
    sd = np.sqrt(s0**2 * se**2 / (s0**2 + se**2))
    return stats.norm(mean, sd).sf(threshold)


def quad_posterior(estimate, se, m0, s0, threshold):
    """P(theta > threshold) by integrating prior x likelihood numerically."""

    def joint(theta):
        return stats.norm.pdf(theta, m0, s0) * stats.norm.pdf(estimate, theta, se)

    scale = min(s0, se)
    centre = (estimate * s0**2 + m0 * se**2) / (s0**2 + se**2)
    lo, hi = centre - 40 * scale, centre + 40 * scale
    total = integrate.quad(joint, lo, hi, points=[centre], epsabs=0, epsrel=1e-13)[0]
    above = integrate.quad(joint, threshold, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
    return above / total


@pytest.mark.parametrize("case", NORMAL_CASES)
def test_normal_posterior_matches_closed_form_and_quadrature(case):
    got = normal_posterior_probability(*case)
    assert got == pytest.approx(precision_weighted(*case), abs=1e-14)
    assert got == pytest.approx(quad_posterior(*case), abs=1e-9)


def test_normal_posterior_matches_importance_sampling_from_the_prior():
    estimate, se, m0, s0, threshold = NORMAL_CASES[1]
    rng = np.random.default_rng(4)
    theta = rng.normal(m0, s0, 2_000_000)
    weight = stats.norm.pdf(estimate, theta, se)
    share = weight / weight.sum()
    monte_carlo = np.sum(share * (theta > threshold))
    # the SE of a self-normalised importance-sampling estimate of a probability
    mc_se = np.sqrt(np.sum(share**2 * ((theta > threshold) - monte_carlo) ** 2))
    got = normal_posterior_probability(estimate, se, m0, s0, threshold)
    assert abs(got - monte_carlo) < 4 * mc_se


def test_normal_posterior_orientation_for_hazard_ratios():
    # HR < 1 favours treatment: P(log HR < log 0.9) is the complement of P(log HR > log 0.9)
    log_hr, se = np.log([0.7, 0.95, 1.3]), np.array([0.2, 0.1, 0.25])
    lower = normal_posterior_probability(log_hr, se, 0.0, 1.0, np.log(0.9), higher_is_better=False)
    upper = normal_posterior_probability(log_hr, se, 0.0, 1.0, np.log(0.9))
    np.testing.assert_allclose(lower + upper, 1.0, atol=1e-15)
    assert lower[0] > 0.5 > lower[2]


def test_normal_posterior_without_evidence_is_the_prior_probability():
    estimate = np.array([np.nan, 0.3, 0.3, np.nan])
    se = np.array([np.nan, np.inf, np.nan, 0.2])
    got = normal_posterior_probability(estimate, se, 0.1, 1.5, np.log(1.2))
    np.testing.assert_allclose(got, stats.norm(0.1, 1.5).sf(np.log(1.2)), rtol=1e-14)


def test_normal_posterior_limits_are_the_data_and_the_prior():
    # a very precise estimate: the posterior is the likelihood; a vague one: the prior
    precise = normal_posterior_probability(0.2, 1e-6, 0.0, 1.0, 0.2 - 3e-6)
    assert precise == pytest.approx(stats.norm.cdf(3.0), abs=1e-5)
    vague = normal_posterior_probability(5.0, 1e6, 0.0, 1.0, 0.5)
    assert vague == pytest.approx(stats.norm.sf(0.5), abs=1e-9)


def test_normal_posterior_rejects_bad_priors_and_standard_errors():
    with pytest.raises(CstrialError, match="prior_sd must be > 0"):
        normal_posterior_probability(0.1, 0.2, 0.0, 0.0)
    with pytest.raises(CstrialError, match="se must be > 0"):
        normal_posterior_probability(0.1, -0.2, 0.0, 1.0)
    with pytest.raises(CstrialError, match="prior_mean must be finite"):
        normal_posterior_probability(0.1, 0.2, np.nan, 1.0)


# --------------------------------------------------------------------------- calibration


def brute_force_threshold(posteriors, target, futility):
    """Replay the sequential rule for every candidate threshold; the smallest within target."""
    n_reps, n_looks = posteriors.shape
    candidates = np.unique(np.r_[0.0, posteriors[np.isfinite(posteriors)]])
    for c in candidates:  # increasing: the first that meets the target is the smallest
        rejected = 0
        for r in range(n_reps):
            for k in range(n_looks):
                if posteriors[r, k] > c:  # NaN > c is False: no decision
                    rejected += 1
                    break
                if futility is not None and futility[r, k]:
                    break
        if rejected / n_reps <= target:
            return c, rejected / n_reps
    raise AssertionError("no threshold meets the target")


@pytest.mark.parametrize("with_futility", [False, True], ids=["efficacy only", "with futility"])
@pytest.mark.parametrize("target", [0.025, 0.1, 0.29])
def test_calibrated_threshold_is_the_brute_force_one(target, with_futility):
    rng = np.random.default_rng(5)
    n_reps, n_looks = 400, 3
    # posteriors under the null, rounded to create ties, with some looks missing
    posteriors = np.round(rng.beta(2.0, 2.0, (n_reps, n_looks)), 2)
    posteriors[rng.random((n_reps, n_looks)) < 0.05] = np.nan
    futility = (posteriors < 0.1) if with_futility else None
    result = calibrate_threshold(posteriors, target, futility)
    threshold, achieved = brute_force_threshold(posteriors, target, futility)
    assert isinstance(result, ThresholdCalibration)
    assert result.threshold == threshold
    assert result.achieved == pytest.approx(achieved, abs=1e-15)
    assert result.achieved <= target
    assert result.se == pytest.approx(np.sqrt(achieved * (1 - achieved) / n_reps), rel=1e-12)


def test_calibrated_threshold_is_exact_on_continuous_posteriors():
    # without ties the threshold is the (A + 1)-th largest maximum: exactly A = 25 of
    # 1000 trials reject, and any lower threshold rejects one more
    rng = np.random.default_rng(6)
    posteriors = rng.random((1000, 2))
    result = calibrate_threshold(posteriors, 0.025)
    assert result.achieved == 0.025
    below = np.nextafter(result.threshold, 0.0)
    assert np.mean(posteriors.max(axis=1) > below) == 0.026


def test_calibration_rejects_bad_input():
    with pytest.raises(CstrialError, match=r"target must lie in \(0, 1\)"):
        calibrate_threshold(np.zeros((5, 2)), 0.0)
    with pytest.raises(CstrialError, match="futility must have the shape"):
        calibrate_threshold(np.zeros((5, 2)), 0.1, np.zeros((5, 3), bool))
    with pytest.raises(CstrialError, match=r"\(replicates, looks\)"):
        calibrate_threshold(np.zeros((2, 2, 2)), 0.1)
