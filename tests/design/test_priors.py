"""Draws from design priors have scipy.stats' moments; bad priors are refused by field."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cstrial.design.priors import DesignPrior, design_prior, draw_design_prior
from cstrial.errors import CstrialError

# each prior as the protocol writes it, and the same distribution in scipy.stats
CASES = [
    ({"normal": [-0.08, 0.04]}, stats.norm(-0.08, 0.04)),
    ({"lognormal": [np.log(0.8), 0.15]}, stats.lognorm(s=0.15, scale=0.8)),
    ({"beta": [40, 60]}, stats.beta(40, 60)),
    ({"beta": [0.5, 0.5]}, stats.beta(0.5, 0.5)),
    ({"uniform": [0.6, 1.1]}, stats.uniform(0.6, 0.5)),
]


@pytest.mark.parametrize(("spec", "reference"), CASES, ids=[next(iter(c[0])) for c in CASES])
def test_draws_have_the_moments_of_scipy_stats(spec, reference):
    n = 400_000
    draws = draw_design_prior(spec, n, np.random.default_rng(1))
    assert draws.shape == (n,)
    mean, variance = reference.mean(), reference.var()
    # within 4 SE: of the mean, sqrt(var / n); of the variance, sqrt((mu4 - var^2) / n)
    mu4 = reference.expect(lambda x: (x - mean) ** 4)
    assert abs(draws.mean() - mean) < 4 * np.sqrt(variance / n)
    assert abs(draws.var() - variance) < 4 * np.sqrt((mu4 - variance**2) / n)
    # and the whole distribution: a Kolmogorov–Smirnov test at the 0.1% level
    assert stats.kstest(draws[:20_000], reference.cdf).pvalue > 1e-3


def test_draws_come_from_the_generator_passed_in():
    state = np.random.get_state()[1].copy()
    a = draw_design_prior({"normal": [0, 1]}, (3, 4), np.random.default_rng(7))
    b = draw_design_prior({"normal": [0, 1]}, (3, 4), np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 4)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global state untouched


def test_a_validated_prior_is_reused_as_is():
    prior = design_prior({"beta": [2, 3]}, "design.prior")
    assert prior == DesignPrior("beta", (2.0, 3.0))
    assert design_prior(prior) is prior


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"normal": [0.0, 0.0]}, r"design\.effect\.normal\[1\] \(sd\): must be > 0, found 0"),
        ({"lognormal": [0.0, -1]}, r"design\.effect\.lognormal\[1\] \(sdlog\): must be > 0"),
        ({"beta": [0, 5]}, r"design\.effect\.beta\[0\] \(a\): must be > 0, found 0"),
        ({"beta": [5, -2]}, r"design\.effect\.beta\[1\] \(b\): must be > 0"),
        ({"uniform": [1.0, 1.0]}, r"design\.effect\.uniform\[1\] \(high\): must be > low"),
        ({"normal": [0.0, "wide"]}, r"normal\[1\] \(sd\): must be a finite number"),
        ({"normal": [np.nan, 1.0]}, r"normal\[0\] \(mean\): must be a finite number"),
        ({"normal": [0.0]}, r"design\.effect\.normal: must be two numbers \[mean, sd\]"),
        ({"cauchy": [0, 1]}, r"unknown design prior 'cauchy'; expected one of normal"),
        ({"normal": [0, 1], "beta": [1, 1]}, "one family with two numbers"),
    ],
)
def test_bad_priors_are_refused_naming_the_field(spec, message):
    with pytest.raises(CstrialError, match=message):
        draw_design_prior(spec, 10, np.random.default_rng(0), field="design.effect")
