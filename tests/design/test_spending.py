"""Spending functions against the values rpact publishes in its unit tests.

Every expected value below was read in rpact's test file
tests/testthat/test-f_design_group_sequential.R (github.com/rpact-com/rpact, commit
1d81a55ea2b5a4a4f4b5ff70dc25077077d8bddb), where rpact checks it to a tolerance of 1e-7.
rpact's ``alphaSpent``/``betaSpent`` of a non-binding design are the cumulative
spending function at the information rates; the R call is given with each case.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from cstrial.design import SPENDING_FAMILIES, spending_function
from cstrial.errors import CstrialError

RPACT = "rpact tests/testthat/test-f_design_group_sequential.R @1d81a55"

SPENDING_CASES = [
    {
        # x1 <- getDesignInverseNormal(kMax = 3, informationRates = c(0.2, 0.4, 1),
        #     alpha = 0.03, sided = 1, beta = 0.14, typeOfDesign = "asHSD", gammaA = 0)
        "source": RPACT + " (x1 alphaSpent)",
        "family": "hwang-shih-decani",
        "parameter": 0.0,
        "total": 0.03,
        "t": [0.2, 0.4, 1],
        "expected": [0.006, 0.012, 0.03],
    },
    {
        # x2 <- getDesignInverseNormal(kMax = 3, informationRates = c(0.2, 0.4, 1),
        #     alpha = 0.07, sided = 1, beta = 0.14, typeOfDesign = "asHSD", gammaA = -1,
        #     typeBetaSpending = "bsHSD", gammaB = -2)
        "source": RPACT + " (x2 alphaSpent)",
        "family": "hwang-shih-decani",
        "parameter": -1.0,
        "total": 0.07,
        "t": [0.2, 0.4, 1],
        "expected": [0.0090195874, 0.020036136, 0.07],
    },
    {
        # same call as above, x2$betaSpent
        "source": RPACT + " (x2 betaSpent)",
        "family": "hwang-shih-decani",
        "parameter": -2.0,
        "total": 0.14,
        "t": [0.2, 0.4, 1],
        "expected": [0.010777094, 0.026854629, 0.14],
    },
    {
        # x3 <- getDesignInverseNormal(kMax = 3, informationRates = c(0.3, 0.7, 1),
        #     alpha = 0.03, sided = 1, beta = 0.34, typeOfDesign = "asKD", gammaA = 2.2,
        #     typeBetaSpending = "bsKD", gammaB = 3.2)
        "source": RPACT + " (x3 alphaSpent)",
        "family": "kim-demets",
        "parameter": 2.2,
        "total": 0.03,
        "t": [0.3, 0.7, 1],
        "expected": [0.0021222083, 0.013687904, 0.03],
    },
    {
        # same call as above, x3$betaSpent
        "source": RPACT + " (x3 betaSpent)",
        "family": "kim-demets",
        "parameter": 3.2,
        "total": 0.34,
        "t": [0.3, 0.7, 1],
        "expected": [0.0072155083, 0.1085907, 0.34],
    },
    {
        # x6a <- getDesignGroupSequential(kMax = 3, alpha = 0.13, typeOfDesign = "asP",
        #     typeBetaSpending = "bsUser", informationRates = c(0.35, 0.7, 1),
        #     bindingFutility = FALSE, userBetaSpending = c(0.01, 0.05, 0.3))
        "source": RPACT + " (x6a alphaSpent)",
        "family": "lan-demets-pocock",
        "parameter": None,
        "total": 0.13,
        "t": [0.35, 0.7, 1],
        "expected": [0.061214062, 0.10266465, 0.13],
    },
    {
        # x7a <- getDesignGroupSequential(kMax = 4, alpha = 0.13, beta = 0.41,
        #     typeOfDesign = "asOF", typeBetaSpending = "bsKD",
        #     informationRates = c(0.4, 0.75, 0.85, 1), gammaB = 2.5, bindingFutility = FALSE)
        "source": RPACT + " (x7a, kMax = 4, alphaSpent)",
        "family": "lan-demets-obrien-fleming",
        "parameter": None,
        "total": 0.13,
        "t": [0.4, 0.75, 0.85, 1],
        "expected": [0.016665509, 0.080406163, 0.10053322, 0.13],
    },
    {
        # same call as above, x7a$betaSpent
        "source": RPACT + " (x7a, kMax = 4, betaSpent)",
        "family": "kim-demets",
        "parameter": 2.5,
        "total": 0.41,
        "t": [0.4, 0.75, 0.85, 1],
        "expected": [0.041489083, 0.19972711, 0.27310596, 0.41],
    },
]


@pytest.mark.parametrize(
    "case", SPENDING_CASES, ids=[f"{c['family']}-{c['parameter']}" for c in SPENDING_CASES]
)
def test_spending_function_matches_rpact(case):
    got = spending_function(case["family"], case["t"], case["total"], case["parameter"])
    np.testing.assert_allclose(got, case["expected"], rtol=2e-7, atol=1e-12)


@pytest.mark.parametrize(
    ("family", "parameter"),
    [
        ("lan-demets-obrien-fleming", None),
        ("lan-demets-pocock", None),
        ("hwang-shih-decani", -4.0),
        ("hwang-shih-decani", 1.0),
        ("kim-demets", 3.0),
        ("none", None),
    ],
)
def test_spending_is_zero_at_start_total_at_end_and_non_decreasing(family, parameter):
    t = np.linspace(0.0, 1.0, 101)
    f = spending_function(family, t, 0.025, parameter)
    assert f[0] == 0.0
    assert f[-1] == 0.025
    assert np.all(np.diff(f) >= 0.0)


def test_obrien_fleming_type_is_the_closed_form():
    # rpact asOF / gsDesign sfLDOF: 2 * (1 - Phi(Phi^-1(1 - alpha/2) / sqrt(t))), evaluated
    # here with the standard library's NormalDist rather than scipy
    normal = NormalDist()
    alpha = 0.025
    for t in (0.1, 0.5, 0.8):
        expected = 2 * (1 - normal.cdf(normal.inv_cdf(1 - alpha / 2) / math.sqrt(t)))
        got = spending_function("lan-demets-obrien-fleming", [t], alpha)[0]
        assert got == pytest.approx(expected, rel=1e-9)


def test_hwang_shih_decani_is_continuous_at_gamma_zero():
    t = np.array([0.1, 0.5, 0.9])
    near = spending_function("hwang-shih-decani", t, 0.025, 1e-9)
    exact = spending_function("hwang-shih-decani", t, 0.025, 0.0)
    np.testing.assert_allclose(near, exact, rtol=1e-8)
    np.testing.assert_allclose(exact, 0.025 * t, rtol=1e-15)


def test_none_spends_nothing_before_the_final_look():
    np.testing.assert_array_equal(
        spending_function("none", [0.3, 0.99, 1.0], 0.025), [0.0, 0.0, 0.025]
    )


def test_families_are_the_protocol_vocabulary():
    assert SPENDING_FAMILIES == (
        "lan-demets-obrien-fleming",
        "lan-demets-pocock",
        "hwang-shih-decani",
        "kim-demets",
        "wang-tsiatis",
        "none",
    )


@pytest.mark.parametrize(
    ("family", "parameter", "message"),
    [
        ("obrien-fleming", None, "unknown spending family"),
        ("hwang-shih-decani", None, "needs a parameter"),
        ("kim-demets", None, "needs a parameter"),
        ("kim-demets", -1.0, "needs rho between 0.4 and 8"),
        ("wang-tsiatis", 0.0, "not a spending function"),
    ],
)
def test_bad_family_or_parameter_is_a_cstrial_error(family, parameter, message):
    with pytest.raises(CstrialError, match=message):
        spending_function(family, [0.5, 1.0], 0.025, parameter)


def test_total_outside_unit_interval_is_rejected():
    with pytest.raises(CstrialError, match="total"):
        spending_function("lan-demets-pocock", [1.0], 1.5)
