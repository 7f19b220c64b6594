"""Batched logistic regression equals statsmodels' GLM fit, replicate by replicate.

The reference for every replicate is
    sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12)
with X = [1, treated, covariates] over the included patients. (With the default
tol=1e-8 the coefficients still agree to ~1e-10, but statsmodels reports the
covariance at the IRLS weights of the previous iterate, so its SEs differ from the
converged information matrix by ~5e-6 relative; tol=1e-12 removes that.)
The standardised risk difference is checked against g-computation with the
statsmodels fit, and its SE against a numerical (central-difference) delta
method on statsmodels' covariance.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit

from cstrial.analysis.logistic import LogisticResult, logistic_adjusted
from cstrial.errors import CstrialError

# Simulated trials: each case is data, drawn from a seeded logistic model. Covariates
# mimic cardiogenic shock: age (standardised), lactate (mmol/L, skewed), SCAI stage
# C/D/E dummy-coded against C. `share_included` drops patients at random.
CASES = [
    {"name": "adjusted, all included", "reps": 12, "n": 300, "log_or": -0.3, "share_included": 1.0},
    {
        "name": "adjusted, some excluded",
        "reps": 12,
        "n": 240,
        "log_or": -0.5,
        "share_included": 0.8,
    },
    {"name": "small trials", "reps": 12, "n": 80, "log_or": 0.0, "share_included": 0.9},
    {"name": "large effect", "reps": 6, "n": 600, "log_or": -1.0, "share_included": 1.0},
]


def simulate(case, seed=0):
    rng = np.random.default_rng(seed)
    shape = (case["reps"], case["n"])
    age = rng.normal(size=shape)
    lactate = rng.gamma(2.0, 2.0, shape)
    stage = rng.integers(0, 3, shape)
    covariates = np.stack([age, lactate, stage == 1, stage == 2], axis=2).astype(float)
    treated = rng.random(shape) < 0.5
    eta = -1.2 + 0.5 * age + 0.15 * lactate + 0.4 * (stage == 1) + 0.9 * (stage == 2)
    events = rng.random(shape) < expit(eta + case["log_or"] * treated)
    include = rng.random(shape) < case["share_included"]
    return events, treated, covariates, include


def statsmodels_reference(events, treated, covariates, include, r):
    """log OR, SE, g-computation RD, numerical delta-method SE, Hessian SE for replicate r."""
    keep = include[r]
    design = np.column_stack([np.ones(keep.sum()), treated[r, keep], covariates[r, keep]])
    fit = sm.GLM(events[r, keep].astype(float), design, family=sm.families.Binomial()).fit(
        tol=1e-12
    )
    as_treated, as_control = design.copy(), design.copy()
    as_treated[:, 1], as_control[:, 1] = 1.0, 0.0

    def g_computation(params):
        return np.mean(
            fit.model.predict(params, as_treated) - fit.model.predict(params, as_control)
        )

    step = 1e-6
    gradient = np.array(
        [
            (g_computation(fit.params + step * e) - g_computation(fit.params - step * e))
            / (2 * step)
            for e in np.eye(len(fit.params))
        ]
    )
    rd_se = np.sqrt(gradient @ fit.cov_params() @ gradient)
    # the model-based SE from the exact Hessian at the converged coefficients
    se_hessian = np.sqrt(np.linalg.inv(-fit.model.hessian(fit.params))[1, 1])
    return fit.params[1], fit.bse[1], g_computation(fit.params), rd_se, se_hessian


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_statsmodels_glm_replicate_by_replicate(case):
    events, treated, covariates, include = simulate(case)
    result = logistic_adjusted(events, treated, covariates, include)
    assert result.converged.all()
    for r in range(case["reps"]):
        log_or, se, rd, rd_se, se_hessian = statsmodels_reference(
            events, treated, covariates, include, r
        )
        assert result.log_or[r] == pytest.approx(log_or, rel=1e-6, abs=1e-9)
        assert result.se[r] == pytest.approx(se, rel=1e-6)
        assert result.se[r] == pytest.approx(se_hessian, rel=1e-10)
        assert result.risk_difference[r] == pytest.approx(rd, rel=1e-6, abs=1e-9)
        assert result.rd_se[r] == pytest.approx(rd_se, rel=1e-6)


def test_z_statistics_favour_treatment_when_positive():
    events, treated, covariates, include = simulate(CASES[0])
    result = logistic_adjusted(events, treated, covariates, include)
    np.testing.assert_allclose(result.or_z, -result.log_or / result.se, rtol=1e-14)
    np.testing.assert_allclose(result.rd_z, -result.risk_difference / result.rd_se, rtol=1e-14)
    np.testing.assert_array_equal(result.estimate, result.risk_difference)
    # the test statistic is the score test of treatment: statsmodels' GLM score test
    import statsmodels.api as sm

    for r in range(3):
        keep = include[r]
        x = np.column_stack([np.ones(keep.sum()), covariates[r][keep]])
        null = sm.GLM(events[r][keep].astype(float), x, family=sm.families.Binomial()).fit(
            tol=1e-12
        )
        chi2 = null.score_test(exog_extra=treated[r][keep][:, None].astype(float))[0]
        assert result.z[r] ** 2 == pytest.approx(float(np.ravel(chi2)[0]), rel=1e-6)
    benefit = {**CASES[3], "reps": 20, "log_or": -1.0}
    assert (logistic_adjusted(*simulate(benefit, seed=1)).z > 0).all()


def test_without_covariates_is_the_two_by_two_table():
    # saturated model: log OR = log(a d / (b c)), Woolf SE; RD = p_t − p_c with the
    # unpooled Wald SE (the delta method on the saturated model)
    rng = np.random.default_rng(3)
    treated = rng.random((20, 200)) < 0.5
    events = rng.random((20, 200)) < 0.3 + 0.1 * treated
    result = logistic_adjusted(events, treated, None)
    a = (events & treated).sum(1)
    b = (~events & treated).sum(1)
    c = (events & ~treated).sum(1)
    d = (~events & ~treated).sum(1)
    p_t, p_c = a / (a + b), c / (c + d)
    np.testing.assert_allclose(result.log_or, np.log(a * d / (b * c)), rtol=1e-9)
    np.testing.assert_allclose(result.se, np.sqrt(1 / a + 1 / b + 1 / c + 1 / d), rtol=1e-9)
    np.testing.assert_allclose(result.risk_difference, p_t - p_c, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        result.rd_se, np.sqrt(p_t * (1 - p_t) / (a + b) + p_c * (1 - p_c) / (c + d)), rtol=1e-8
    )


def test_vectorised_equals_row_by_row():
    events, treated, covariates, include = simulate(CASES[1], seed=4)
    result = logistic_adjusted(events, treated, covariates, include)
    for r in range(events.shape[0]):
        row = logistic_adjusted(
            events[r : r + 1], treated[r : r + 1], covariates[r : r + 1], include[r : r + 1]
        )
        for field in ("log_or", "se", "risk_difference", "rd_se"):
            assert getattr(result, field)[r] == pytest.approx(getattr(row, field)[0], rel=1e-12)


def test_excluded_patients_do_not_count():
    events, treated, covariates, include = simulate(CASES[1], seed=5)
    scrambled = np.where(include[..., None], covariates, np.nan)  # unknown for the excluded
    a = logistic_adjusted(events, treated, covariates, include)
    flipped = np.where(include, events, ~events)  # the excluded's outcomes flipped
    b = logistic_adjusted(flipped, treated, scrambled, include)
    np.testing.assert_allclose(a.log_or, b.log_or, rtol=1e-12)
    np.testing.assert_allclose(a.rd_se, b.rd_se, rtol=1e-12)


def test_separation_and_singular_designs_are_flagged_not_fitted():
    events, treated, covariates, include = simulate({**CASES[0], "reps": 4}, seed=6)
    events[1, treated[1]] = False  # no event on treatment: the log OR runs to −infinity
    covariates[2, :, 0] = 0.0  # age constant in replicate 2: not identifiable
    events[3] = False  # no event at all
    result = logistic_adjusted(events, treated, covariates, include)
    np.testing.assert_array_equal(result.fitted, [True, False, False, False])
    for field in ("log_or", "se", "risk_difference", "rd_se"):
        values = getattr(result, field)
        assert np.isfinite(values[0]) and np.isnan(values[1:]).all(), field
    # no evidence is z = 0, as in every analysis (cstrial.analysis.result)
    for field in ("or_z", "rd_z"):
        values = getattr(result, field)
        assert values[0] != 0 and (values[1:] == 0).all(), field
    # the score test needs only the model without treatment: it speaks where treatment
    # separates (replicate 1, strong evidence), not where nothing happens (replicate 3)
    np.testing.assert_array_equal(result.converged, [True, True, False, False])
    assert result.z[1] > 2 and result.z[3] == 0
    alone = logistic_adjusted(events[:1], treated[:1], covariates[:1], include[:1])
    assert alone.log_or[0] == pytest.approx(result.log_or[0], rel=1e-12)
    assert isinstance(result, LogisticResult)


def test_rejects_bad_covariates_with_a_remedy():
    events = np.zeros((2, 5), bool)
    treated = np.ones((2, 5), bool)
    with pytest.raises(CstrialError, match=r"covariates\[\.\.\., None\]"):
        logistic_adjusted(events, treated, np.ones((2, 5)))
    with pytest.raises(CstrialError, match="NaN or infinite"):
        logistic_adjusted(events, treated, np.full((2, 5, 1), np.nan))
    with pytest.raises(CstrialError, match="boolean"):
        logistic_adjusted(np.full((2, 5), 2), treated, None)
