"""The batched proportional-odds fit equals R's MASS::polr and ordinal::clm on stored trials.

Each reference case is a trial simulated in R, stored with R's estimates in
``r/proportional_odds.json`` and written by ``r/proportional_odds.R`` (R 4.2.2, MASS
7.3-58.2, ordinal 2022.11-16), whose header gives the exact calls; each case also carries
them as ``polr_call`` and ``clm_call``. In short, with data = data.frame(y = factor(y),
treated, x1, x2):

    MASS::polr(y ~ treated [+ x1 + x2], data, method = "logistic", Hess = TRUE,
               control = list(reltol = 1e-15, maxit = 10000, ndeps = rep(1e-5, k)))
        restarted from its own estimate; coef(fit)["treated"], sqrt(diag(vcov(fit)))["treated"]
    ordinal::clm(y ~ treated [+ x1 + x2], data, link = "logit",
                 control = clm.control(gradTol = 1e-12, relTol = 1e-12, maxIter = 1000))

polr maximises with BFGS and differentiates its gradient numerically for the Hessian, so
it is pinned to 1e-6 (it agrees with clm to 6e-8); clm runs Newton–Raphson to a gradient
below 1e-12 with the analytic Hessian, and is pinned to 1e-9. The cases cover n from 20
to 1000, 3 to 23 categories, ties, a category empty in one arm and categories empty
overall, an arm entirely in one interior category, a strong effect, unequal allocation,
and one or two covariates.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtri

from cstrial.analysis.logistic import logistic_adjusted
from cstrial.analysis.proportional_odds import ProportionalOddsResult, proportional_odds
from cstrial.errors import CstrialError

CASES = json.loads((Path(__file__).parent / "r" / "proportional_odds.json").read_text())

#: OSFD on days 0..21 with death as -1, as in the R cases: death 35%, no free day 10%,
#: 2% on each of days 1..20, 15% with all 21 days free.
OSFD = np.arange(-1, 22)
OSFD_P = np.r_[0.35, 0.10, np.full(20, 0.02), 0.15]


def arrays(case):
    """outcome (1, n) int, treated (1, n) bool, covariates (1, n, p) or None."""
    outcome = np.array(case["y"], dtype=int)[None]
    treated = np.array(case["treated"], dtype=bool)[None]
    covariates = case["covariates"]
    return outcome, treated, None if covariates is None else np.array(covariates, float)[None]


def simulate(n_reps, n, log_or=0.0, gamma=(), seed=0, share_treated=0.5):
    """Trials from a proportional-odds model on the OSFD scale; gamma: normal covariates."""
    rng = np.random.default_rng(seed)
    treated = rng.random((n_reps, n)) < share_treated
    covariates = rng.normal(size=(n_reps, n, len(gamma)))
    cuts = np.log(np.cumsum(OSFD_P)[:-1] / (1 - np.cumsum(OSFD_P)[:-1]))
    latent = (
        log_or * treated + covariates @ np.asarray(gamma, float) + rng.logistic(size=(n_reps, n))
    )
    outcome = OSFD[np.searchsorted(cuts, latent)]
    return outcome, treated, covariates if gamma else None


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_polr_and_clm(case):
    outcome, treated, covariates = arrays(case)
    result = proportional_odds(outcome, treated, None, covariates)
    assert result.converged[0]
    assert result.log_or[0] == pytest.approx(case["polr_log_or"], abs=1e-6)
    assert result.se[0] == pytest.approx(case["polr_se"], rel=1e-6)
    assert result.log_or[0] == pytest.approx(case["clm_log_or"], abs=1e-9)
    assert result.se[0] == pytest.approx(case["clm_se"], rel=1e-9)
    assert result.z[0] == pytest.approx(result.log_or[0] / result.se[0], rel=1e-15)
    assert result.odds_ratio[0] == pytest.approx(np.exp(result.log_or[0]), rel=1e-15)


@pytest.mark.parametrize("with_covariates", [False, True], ids=["arm only", "two covariates"])
def test_stored_cases_fitted_together_equal_their_single_fits(with_covariates):
    # one batch of trials of different sizes and categories: padding patients excluded
    cases = [c for c in CASES if (c["covariates"] is not None and len(c["covariates"][0]) == 2)]
    if not with_covariates:
        cases = [c for c in CASES if c["covariates"] is None]
    n = max(len(c["y"]) for c in cases)
    outcome = np.full((len(cases), n), -99)
    treated = np.zeros((len(cases), n), bool)
    include = np.zeros((len(cases), n), bool)
    covariates = np.full((len(cases), n, 2), np.nan)
    for r, case in enumerate(cases):
        y, t, x = arrays(case)
        outcome[r, : y.size], treated[r, : y.size], include[r, : y.size] = y[0], t[0], True
        if with_covariates:
            covariates[r, : y.size] = x[0]
    result = proportional_odds(outcome, treated, include, covariates if with_covariates else None)
    np.testing.assert_allclose(result.log_or, [c["clm_log_or"] for c in cases], atol=1e-9)
    np.testing.assert_allclose(result.se, [c["clm_se"] for c in cases], rtol=1e-9)


def test_small_cases_match_statsmodels_ordered_model():
    # a second reference that CI can recompute: statsmodels' OrderedModel (0.15), Newton
    # from its BFGS fit; its SE comes from a numerical Hessian, good to ~1e-6
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    for case in (c for c in CASES if len(set(c["y"])) <= 4):
        outcome, treated, covariates = arrays(case)
        design = treated[0, :, None].astype(float)
        if covariates is not None:
            design = np.column_stack([design, covariates[0]])
        model = OrderedModel(np.unique(outcome[0], return_inverse=True)[1], design, distr="logit")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = model.fit(method="bfgs", disp=False, maxiter=5000, gtol=1e-10).params
            fit = model.fit(method="newton", disp=False, start_params=start, tol=1e-14)
        result = proportional_odds(outcome, treated, None, covariates)
        assert result.log_or[0] == pytest.approx(fit.params[0], abs=1e-8), case["name"]
        assert result.se[0] == pytest.approx(fit.bse[0], rel=1e-5), case["name"]


def test_two_categories_is_logistic_regression_of_the_better_one():
    # with J = 2 the model is logit P(Y = worse) = alpha - beta t - gamma' x: the logistic
    # regression of the worse category, with the signs of its coefficients reversed
    rng = np.random.default_rng(1)
    treated = rng.random((20, 300)) < 0.5
    covariates = rng.normal(size=(20, 300, 2))
    better = rng.random((20, 300)) < 1 / (1 + np.exp(-(0.3 * treated + covariates[..., 0])))
    for x in (None, covariates):
        ordinal = proportional_odds(better.astype(int), treated, None, x)
        logistic = logistic_adjusted(~better, treated, x)
        np.testing.assert_allclose(ordinal.log_or, -logistic.log_or, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ordinal.se, logistic.se, rtol=1e-9)


def test_no_evidence_is_a_nan_estimate_z_0_and_not_converged():
    rng = np.random.default_rng(2)
    outcome = rng.integers(0, 5, (9, 40))
    treated = np.tile(np.arange(40) % 2 == 0, (9, 1))
    outcome[1, treated[1]] = 4  # every treated patient better than every control one:
    outcome[1, ~treated[1]] = rng.integers(0, 4, 20)  # separation, log OR -> +inf
    outcome[2, treated[2]] = rng.integers(0, 2, 20)  # quasi-separation: treated <= 2 <=
    outcome[2, ~treated[2]] = rng.integers(2, 5, 20)  # control, overlapping only at 2
    outcome[3] = 2  # one category
    treated[4] = False  # one arm
    outcome[5, treated[5]] = 2  # treated all in an interior category, control on both sides:
    outcome[5, ~treated[5]] = np.repeat([0, 4], 10)  # a finite estimate, fitted
    covariates = rng.normal(size=(9, 40, 1))
    covariates[6] = 1.0  # a covariate constant within the replicate: not identifiable
    covariates[7, :, 0] = outcome[7]  # the covariate separates the categories
    result = proportional_odds(outcome, treated, None, covariates)
    np.testing.assert_array_equal(result.converged, [1, 0, 0, 0, 0, 1, 0, 0, 1])
    for field in ("log_or", "se", "z", "odds_ratio"):
        values = getattr(result, field)
        assert np.isfinite(values[result.converged]).all(), field
    for field in ("log_or", "se", "odds_ratio"):
        assert np.isnan(getattr(result, field)[~result.converged]).all(), field
    assert (result.z[~result.converged] == 0).all()  # no evidence (cstrial.analysis.result)
    np.testing.assert_array_equal(result.iterations[[1, 2, 3, 4]], 0)  # not attempted
    assert result.iterations[7] == 50  # separated by the covariate: given up
    arm_only = proportional_odds(outcome, treated)
    np.testing.assert_array_equal(arm_only.converged, [1, 0, 0, 0, 0, 1, 1, 1, 1])
    assert isinstance(result, ProportionalOddsResult)


def test_vectorised_equals_row_by_row():
    outcome, treated, covariates = simulate(6, 150, log_or=0.4, gamma=(0.5, -0.3), seed=3)
    include = np.random.default_rng(4).random(outcome.shape) < 0.8
    for x in (None, covariates):
        batch = proportional_odds(outcome, treated, include, x)
        for r in range(outcome.shape[0]):
            rows = slice(r, r + 1)
            one = proportional_odds(
                outcome[rows], treated[rows], include[rows], None if x is None else x[rows]
            )
            assert batch.log_or[r] == pytest.approx(one.log_or[0], rel=1e-12)
            assert batch.se[r] == pytest.approx(one.se[0], rel=1e-12)


def test_excluded_patients_do_not_count():
    outcome, treated, covariates = simulate(5, 200, log_or=0.3, gamma=(0.5,), seed=5)
    include = np.random.default_rng(6).random(outcome.shape) < 0.7
    a = proportional_odds(outcome, treated, include, covariates)
    scrambled = np.where(include, outcome, 1000)  # not even a level: never looked at
    unknown = np.where(include[..., None], covariates, np.nan)
    b = proportional_odds(scrambled, treated, include, unknown)
    np.testing.assert_allclose(a.log_or, b.log_or, rtol=1e-12)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-12)


def test_only_the_order_of_the_outcome_values_matters():
    outcome, treated, _ = simulate(8, 120, log_or=0.5, seed=7)
    a = proportional_odds(outcome, treated)
    # any increasing relabelling, as floats, with unobserved levels declared
    relabelled = np.exp(outcome / 5.0)
    levels = np.exp(np.arange(-3, 30) / 5.0)
    b = proportional_odds(relabelled, treated, levels=levels)
    c = proportional_odds(outcome, treated, levels=np.arange(-5, 40))
    for other in (b, c):
        np.testing.assert_allclose(other.log_or, a.log_or, rtol=1e-12)
        np.testing.assert_allclose(other.se, a.se, rtol=1e-12)


def test_swapping_the_arms_or_reversing_the_scale_negates_the_log_odds_ratio():
    outcome, treated, covariates = simulate(6, 200, log_or=0.6, gamma=(0.4,), seed=8)
    a = proportional_odds(outcome, treated, None, covariates)
    swapped = proportional_odds(outcome, ~treated, None, covariates)
    reversed_ = proportional_odds(-outcome, treated, None, covariates)
    for other in (swapped, reversed_):
        np.testing.assert_allclose(other.log_or, -a.log_or, rtol=1e-9)
        np.testing.assert_allclose(other.se, a.se, rtol=1e-9)


def test_estimates_a_large_common_odds_ratio_without_bias():
    outcome, treated, _ = simulate(400, 600, log_or=np.log(1.5), seed=9)
    result = proportional_odds(outcome, treated)
    assert result.converged.all()
    # the mean of 400 estimates: within 4 Monte Carlo SE of the truth
    mc_se = result.log_or.std() / np.sqrt(400)
    assert abs(result.log_or.mean() - np.log(1.5)) < 4 * mc_se
    # the model-based SE matches the spread of the estimates (within 10%)
    assert result.se.mean() == pytest.approx(result.log_or.std(), rel=0.1)


def test_type_one_error_of_the_wald_test_is_alpha_under_null():
    # 20,000 seeded trials of 200 patients, OSFD the same in both arms; one-sided 0.025
    n_reps, alpha = 20_000, 0.025
    outcome, treated, _ = simulate(n_reps, 200, log_or=0.0, seed=10)
    result = proportional_odds(outcome, treated)
    assert result.converged.all()
    rejected = np.mean(result.z > ndtri(1 - alpha))
    assert abs(rejected - alpha) < 4 * np.sqrt(alpha * (1 - alpha) / n_reps)


@pytest.mark.slow
def test_type_one_error_with_covariates_is_alpha_under_null():
    n_reps, alpha = 20_000, 0.025
    outcome, treated, covariates = simulate(n_reps, 200, gamma=(0.8, -0.5), seed=11)
    result = proportional_odds(outcome, treated, None, covariates)
    assert result.converged.all()
    rejected = np.mean(result.z > ndtri(1 - alpha))
    assert abs(rejected - alpha) < 4 * np.sqrt(alpha * (1 - alpha) / n_reps)


def test_rejects_bad_input_with_a_remedy():
    outcome = np.zeros((2, 5), int)
    treated = np.ones((2, 5), bool)
    with pytest.raises(CstrialError, match=r"not one of levels.*add it to levels"):
        proportional_odds(outcome + 3, treated, levels=[0, 1, 2])
    with pytest.raises(CstrialError, match="not one of levels"):
        proportional_odds(outcome + 0.5, treated, levels=[0, 1, 2])
    with pytest.raises(CstrialError, match=r"NaN or infinite.*include="):
        proportional_odds(np.full((2, 5), np.nan), treated)
    with pytest.raises(CstrialError, match="strictly increasing"):
        proportional_odds(outcome, treated, levels=[2, 1, 0])
    with pytest.raises(CstrialError, match=r"covariates\[\.\.\., None\]"):
        proportional_odds(outcome, treated, covariates=np.ones((2, 5)))
    with pytest.raises(CstrialError, match="covariates are NaN"):
        proportional_odds(outcome, treated, covariates=np.full((2, 5, 1), np.nan))
    with pytest.raises(CstrialError, match=r"outcome\[None, :\]"):
        proportional_odds(np.zeros(5), treated[0])
