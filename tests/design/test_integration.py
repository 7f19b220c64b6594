"""Exact crossing probabilities against gsDesign's published numbers and scipy's mvn cdf."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from cstrial.design import crossing_probabilities
from cstrial.errors import CstrialError

GSDESIGN_REGRESSION = (
    "gsDesign tests/testthat/test-c-numerics-regression.R (keaven/gsDesign@7d8a499)"
)
GSDESIGN_DEMING = (
    "gsDesign inst/unitTests/runit.output.R, test.Deming.gsProb (K. Anderson, 2008 Deming "
    "conference, slide 19) (keaven/gsDesign@22a1884)"
)

# gsProbability(k = 3, theta = c(-0.25, 0, 0.25), n.I = c(0.3, 0.6, 1.0),
#               a = c(-0.5, -0.75, -1.0), b = c(2.5, 2.25, 2.0), r = 18)
# gsDesign's theta is the drift per unit of information; with n.I[K] = 1 it is our drift.
GS_PROBABILITY_CASES = [
    {
        "source": GSDESIGN_REGRESSION,
        "drift": -0.25,
        "lower": [0.358276535928559, 0.0804375200442274, 0.0379541059065421],
        "upper": [0.0041829967861875, 0.00596407884275666, 0.00854522426818119],
    },
    {
        "source": GSDESIGN_REGRESSION,
        "drift": 0.0,
        "lower": [0.308537538725987, 0.0658271483061993, 0.0281699654253188],
        "upper": [0.00620966532577613, 0.00996166709538417, 0.0156648014320317],
    },
    {
        "source": GSDESIGN_REGRESSION,
        "drift": 0.25,
        "lower": [0.26208501204865, 0.052087603770101, 0.0197314332763651],
        "upper": [0.00906213856022171, 0.0160735550179362, 0.0271031723267736],
    },
]


@pytest.mark.parametrize("case", GS_PROBABILITY_CASES, ids=lambda c: f"drift={c['drift']}")
def test_crossing_probabilities_match_gsdesign_gsprobability(case):
    upper, lower = crossing_probabilities(
        [2.5, 2.25, 2.0], [-0.5, -0.75, -1.0], [0.3, 0.6, 1.0], case["drift"]
    )
    # gsDesign integrates with r = 18, we with r = 32: both are accurate to ~1e-8
    np.testing.assert_allclose(upper, case["upper"], atol=5e-8)
    np.testing.assert_allclose(lower, case["lower"], atol=5e-8)


def test_bounds_from_gsbound1_spend_what_gsdesign_asked():
    # gsBound1(theta = 0, I = c(1, 2, 3) / 3, a = rep(-20, 3),
    #          probhi = c(0.001, 0.009, 0.015), tol = 1e-6, r = 18)$b   [GSDESIGN_REGRESSION]
    b = [3.09023230616781, 2.34482438570837, 2.03950136608231]
    upper, _ = crossing_probabilities(b, None, [1, 2, 3], 0.0)
    np.testing.assert_allclose(upper, [0.001, 0.009, 0.015], atol=2e-7)


@pytest.mark.parametrize(("looks", "expected"), [(2, 0.042), (4, 0.063), (10, 0.097), (20, 0.124)])
def test_repeated_significance_testing_inflates_alpha_as_published(looks, expected):
    # sum(gsProbability(k = K, theta = 0, n.I = 1:K, a = qnorm(.025) * rep(1, K),
    #                   b = qnorm(.975) * rep(1, K))$upper$prob), rounded to 3 places
    # [GSDESIGN_DEMING]
    z = NormalDist().inv_cdf(0.975)
    upper, _ = crossing_probabilities(
        np.full(looks, z), np.full(looks, -z), np.arange(1, looks + 1), 0.0
    )
    assert round(upper.sum(), 3) == expected


def test_one_look_is_the_normal_tail():
    normal = NormalDist()
    for drift in (0.0, 1.3, 2.8):
        upper, lower = crossing_probabilities([1.96], [0.5], [7.0], drift)
        assert upper[0] == pytest.approx(1 - normal.cdf(1.96 - drift), rel=1e-12)
        assert lower[0] == pytest.approx(normal.cdf(0.5 - drift), rel=1e-12)


def test_only_information_ratios_matter():
    b, a = [3.0, 2.5, 2.0], [-1.0, 0.0, 2.0]
    u1, l1 = crossing_probabilities(b, a, [0.25, 0.6, 1.0], 1.7)
    u2, l2 = crossing_probabilities(b, a, [50, 120, 200], 1.7)
    np.testing.assert_allclose(u1, u2, rtol=1e-12)
    np.testing.assert_allclose(l1, l2, rtol=1e-12)


def test_everything_stops_when_the_last_futility_bound_meets_the_efficacy_bound():
    b = [2.8, 2.3, 2.0]
    for drift in (0.0, 2.5):
        upper, lower = crossing_probabilities(b, [-0.5, 0.8, 2.0], [1, 2, 3], drift)
        # the grid integration is accurate to a few 1e-9
        assert upper.sum() + lower.sum() == pytest.approx(1.0, abs=1e-8)


def test_infinite_bounds_mean_no_stop_at_that_look():
    z = NormalDist().inv_cdf(0.975)
    upper, lower = crossing_probabilities([np.inf, np.inf, z], None, [1, 2, 3], 0.0)
    assert upper[0] == 0.0 and upper[1] == 0.0
    assert upper[2] == pytest.approx(0.025, abs=1e-8)
    np.testing.assert_array_equal(lower, 0.0)


RANDOM_DESIGNS = [
    # (efficacy_z, futility_z, information, drift), bounds of assorted shapes
    ([3.2, 2.6, 2.0], None, [0.3, 0.65, 1.0], 0.0),
    ([3.2, 2.6, 2.0], None, [0.3, 0.65, 1.0], 2.9),
    ([2.9, 2.4, 2.2, 2.0], [-0.4, 0.3, 1.1, 2.0], [0.2, 0.45, 0.8, 1.0], 0.0),
    ([2.9, 2.4, 2.2, 2.0], [-0.4, 0.3, 1.1, 2.0], [0.2, 0.45, 0.8, 1.0], 3.1),
    ([np.inf, 2.4, 1.9], [0.0, -np.inf, 1.9], [0.5, 0.75, 1.0], 1.5),
]


@pytest.mark.parametrize("design", RANDOM_DESIGNS)
def test_crossing_probabilities_agree_with_scipy_multivariate_normal(design, mvn):
    b, a, info, drift = design
    upper, lower = crossing_probabilities(b, a, info, drift)
    ref_upper, ref_lower = mvn(b, a, info, drift)
    np.testing.assert_allclose(upper, ref_upper, atol=1e-6)
    np.testing.assert_allclose(lower, ref_lower, atol=1e-6)


@pytest.mark.parametrize(
    ("b", "a", "info", "message"),
    [
        ([2.0, 1.9], None, [1.0], "one value per look"),
        ([2.0, 1.9], None, [2.0, 1.0], "increase"),
        ([2.0, 1.9], None, [0.0, 1.0], "positive"),
        ([np.nan, 1.9], None, [0.5, 1.0], "NaN"),
    ],
)
def test_bad_input_is_a_cstrial_error(b, a, info, message):
    with pytest.raises(CstrialError, match=message):
        crossing_probabilities(b, a, info, 0.0)
