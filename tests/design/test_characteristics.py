"""Operating characteristics against rpact's getDesignCharacteristics, gsDesign and J&T."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from cstrial.design import (
    conditional_power,
    design_characteristics,
    fixed_design_drift,
    group_sequential_boundaries,
    power_at,
)
from cstrial.errors import CstrialError

RPACT_GS = (
    "rpact tests/testthat/test-f_design_group_sequential.R "
    "(github.com/rpact-com/rpact, commit 1d81a55ea2b5a4a4f4b5ff70dc25077077d8bddb)"
)
GSD_SUMMARY = (
    "gsDesign tests/testthat/_snaps/independent-test-gsBoundSummary.md with the calls in "
    "tests/testthat/test-independent-test-gsBoundSummary.R (github.com/keaven/gsDesign); "
    "cumulative P(Cross) printed to 4 decimals"
)
JT_TYPE3 = (
    "Jennison & Turnbull (2000) Tables 7.7-7.9, as checked in gsDesign "
    "inst/unitTests/runit.output.R, test.JT.Power.type3 (github.com/keaven/gsDesign): "
    "100 * n.I[K] and 100 * E{N} relative to the fixed design, 1 decimal"
)

# rpact: shift = drift^2 (the maximum information in units making E[Z_K] = sqrt(shift)),
# averageSampleNumber1/01/0 = expected information relative to the fixed design under
# H1, halfway between H0 and H1, and H0 (with futility bounds obeyed).
RPACT_CHARACTERISTICS = [
    {
        "source": RPACT_GS + ", y1 <- getDesignCharacteristics(x1)",
        # x1 <- getDesignInverseNormal(kMax = 3, informationRates = c(0.2, 0.4, 1),
        #     alpha = 0.03, sided = 1, beta = 0.14, typeOfDesign = "asHSD", gammaA = 0)
        "design": dict(
            looks=[0.2, 0.4, 1],
            alpha=0.03,
            beta=0.14,
            efficacy="hwang-shih-decani",
            efficacy_parameter=0.0,
        ),
        "shift": 9.4594101,
        "rejection": [0.12783451, 0.21271713, 0.51944835],
        "futility": None,
        "asn1": 0.83081135,
        "asn01": 1.0142116,
        "asn0": 1.0697705,
    },
    {
        "source": RPACT_GS + ", y2 <- getDesignCharacteristics(x2)",
        # x2 <- getDesignInverseNormal(kMax = 3, informationRates = c(0.2, 0.4, 1),
        #     alpha = 0.07, sided = 1, beta = 0.14, typeOfDesign = "asHSD", gammaA = -1,
        #     typeBetaSpending = "bsHSD", gammaB = -2)
        "design": dict(
            looks=[0.2, 0.4, 1],
            alpha=0.07,
            beta=0.14,
            efficacy="hwang-shih-decani",
            efficacy_parameter=-1.0,
            futility="hwang-shih-decani",
            futility_parameter=-2.0,
        ),
        "shift": 7.1015942,
        "rejection": [0.12038953, 0.20856311, 0.53104735],
        "futility": [0.010777094, 0.016077535],
        "asn1": 0.82636428,
        "asn01": 0.916142,
        "asn0": 0.79471657,
    },
    {
        "source": RPACT_GS + ", y3 <- getDesignCharacteristics(x3)",
        # x3 <- getDesignInverseNormal(kMax = 3, informationRates = c(0.3, 0.7, 1),
        #     alpha = 0.03, sided = 1, beta = 0.34, typeOfDesign = "asKD", gammaA = 2.2,
        #     typeBetaSpending = "bsKD", gammaB = 3.2)
        "design": dict(
            looks=[0.3, 0.7, 1],
            alpha=0.03,
            beta=0.34,
            efficacy="kim-demets",
            efficacy_parameter=2.2,
            futility="kim-demets",
            futility_parameter=3.2,
        ),
        "shift": 5.551371,
        "rejection": [0.058336437, 0.33990957, 0.261754],
        "futility": [0.0072155083, 0.1013752],
        "asn1": 0.86740735,
        "asn01": 0.87361707,
        "asn0": 0.75480974,
    },
]


@pytest.mark.parametrize("case", RPACT_CHARACTERISTICS, ids=["y1", "y2", "y3"])
def test_characteristics_match_rpact(case):
    design = group_sequential_boundaries(**case["design"])
    assert design.drift**2 == pytest.approx(case["shift"], rel=1e-6)
    h1 = design_characteristics(design)
    np.testing.assert_allclose(h1.reject_per_look, case["rejection"], atol=1e-6)
    if case["futility"] is not None:
        np.testing.assert_allclose(h1.futility_per_look[:-1], case["futility"], atol=1e-6)
    assert h1.expected_information_h1_vs_fixed == pytest.approx(case["asn1"], abs=1e-6)
    assert h1.expected_information_h0_vs_fixed == pytest.approx(case["asn0"], abs=1e-6)
    halfway = design_characteristics(design, design.drift / 2)
    assert halfway.expected_information_h1_vs_fixed == pytest.approx(case["asn01"], abs=1e-6)


GSD_CHARACTERISTICS = [
    {
        "source": GSD_SUMMARY + ", 'Test gsBoundSummary for gsDesign Object'",
        # gsDesign(nFixSurv = 0, k = 5, test.type = 1, n.fix = 1)
        "design": dict(
            looks=[0.2, 0.4, 0.6, 0.8, 1],
            alpha=0.025,
            beta=0.1,
            efficacy="hwang-shih-decani",
            efficacy_parameter=-4.0,
        ),
        "efficacy_h0": [0.0006, 0.0018, 0.0047, 0.0110, 0.0250],
        "efficacy_h1": [0.0370, 0.1883, 0.4530, 0.7229, 0.9000],
    },
    {
        "source": GSD_SUMMARY + ", 'Test gsBoundSummary for gsDesign Object, test.type > 1'",
        # gsDesign(nFixSurv = 3, k = 5, test.type = 4, n.fix = 1)
        # gsDesign computes H0 crossing probabilities with the lower bound in place
        "design": dict(
            looks=[0.2, 0.4, 0.6, 0.8, 1],
            alpha=0.025,
            beta=0.1,
            efficacy="hwang-shih-decani",
            efficacy_parameter=-4.0,
            futility="hwang-shih-decani",
            futility_parameter=-2.0,
        ),
        "efficacy_h0": [0.0006, 0.0018, 0.0047, 0.0109, 0.0226],
        "futility_h0": [0.1836, 0.5037, 0.7737, 0.9215, 0.9774],
        "efficacy_h1": [0.0417, 0.2096, 0.4902, 0.7556, 0.9000],
        "futility_h1": [0.0077, 0.0192, 0.0363, 0.0619, 0.1000],
    },
    {
        "source": GSD_SUMMARY + ", 'Test with Probability Of Success(POS) set to TRUE'",
        # gsDesign(nFixSurv = 0, delta = .3, delta1 = .3)
        "design": dict(
            looks=[1 / 3, 2 / 3, 1],
            alpha=0.025,
            beta=0.1,
            efficacy="hwang-shih-decani",
            efficacy_parameter=-4.0,
            futility="hwang-shih-decani",
            futility_parameter=-2.0,
        ),
        "efficacy_h0": [0.0013, 0.0062, 0.0233],
        "futility_h0": [0.4057, 0.8347, 0.9767],
        "efficacy_h1": [0.1412, 0.5815, 0.9000],
        "futility_h1": [0.0148, 0.0437, 0.1000],
    },
]


@pytest.mark.parametrize("case", GSD_CHARACTERISTICS, ids=["k5-type1", "k5-type4", "k3-type4"])
def test_cumulative_crossing_probabilities_match_gsdesign(case):
    design = group_sequential_boundaries(**case["design"])
    h1 = design_characteristics(design)
    atol = 5e-5 + 1e-6  # printed to 4 decimals
    np.testing.assert_allclose(np.cumsum(h1.reject_per_look_h0), case["efficacy_h0"], atol=atol)
    np.testing.assert_allclose(np.cumsum(h1.reject_per_look), case["efficacy_h1"], atol=atol)
    if "futility_h0" in case:
        np.testing.assert_allclose(
            np.cumsum(h1.futility_per_look_h0), case["futility_h0"], atol=atol
        )
        np.testing.assert_allclose(np.cumsum(h1.futility_per_look), case["futility_h1"], atol=atol)


JT_CASES = [
    # gsDesign(k, test.type = 3, alpha, beta, sfu = sfPower, sfupar = rho,
    #          sfl = sfPower, sflpar = rho); y <- gsProbability(theta = x$delta * c(0, .5, 1), d = x)
    # (k, alpha, beta, rho, 100 * n.I[k], 100 * E{N} at theta = 0, delta/2, delta)
    (5, 0.05, 0.05, 2, 110.1, (63.4, 80.3, 63.4)),
    (10, 0.05, 0.05, 3, 106.9, (63.1, 79.5, 63.1)),
    (3, 0.05, 0.1, 2, 107.2, (68.1, 83.9, 73.8)),
    (4, 0.05, 0.1, 3, 104.0, (69.2, 84.2, 74.2)),
    (2, 0.05, 0.2, 2, 104.3, (74.5, 87.8, 84.6)),
    (15, 0.05, 0.2, 3, 106.9, (62.2, 77.3, 73.0)),
]


@pytest.mark.parametrize(("k", "alpha", "beta", "rho", "rmax", "expected_n"), JT_CASES)
def test_binding_power_family_designs_match_jennison_turnbull(
    k, alpha, beta, rho, rmax, expected_n
):
    # source: JT_TYPE3
    design = group_sequential_boundaries(
        np.arange(1, k + 1) / k,
        alpha,
        "kim-demets",
        rho,
        "kim-demets",
        rho,
        binding=True,
        beta=beta,
    )
    tol = 0.05 + 1e-3  # one decimal, in percent
    assert 100 * design.inflation_factor == pytest.approx(rmax, abs=tol)
    for fraction, published in zip((0.0, 0.5, 1.0), expected_n, strict=True):
        got = design_characteristics(design, fraction * design.drift)
        assert 100 * got.expected_information_h1_vs_fixed == pytest.approx(published, abs=tol)


# ----------------------------------------------------------------- power, independently


POWER_DESIGNS = [
    dict(looks=[0.3, 0.6, 1], alpha=0.025, beta=0.1),
    dict(
        looks=[0.25, 0.5, 0.75, 1],
        alpha=0.025,
        beta=0.2,
        efficacy="lan-demets-pocock",
        futility="hwang-shih-decani",
        futility_parameter=-2.0,
    ),
    dict(
        looks=[0.4, 0.7, 1],
        alpha=0.025,
        beta=0.15,
        futility="kim-demets",
        futility_parameter=2.0,
        binding=True,
    ),
]


@pytest.mark.parametrize("kwargs", POWER_DESIGNS, ids=["efficacy-only", "non-binding", "binding"])
def test_power_at_the_design_drift_is_one_minus_beta(kwargs, mvn):
    design = group_sequential_boundaries(**kwargs)
    assert power_at(design, design.drift) == pytest.approx(1 - kwargs["beta"], abs=1e-9)
    upper, _ = mvn(design.efficacy_z, design.futility_z, design.information, design.drift)
    assert upper.sum() == pytest.approx(1 - kwargs["beta"], abs=1e-6)


def test_type_one_error_with_and_without_obeying_non_binding_futility():
    design = group_sequential_boundaries(
        [0.25, 0.5, 0.75, 1], 0.025, futility="hwang-shih-decani", futility_parameter=-2.0
    )
    h = design_characteristics(design)
    assert h.type_one_error_ignoring_futility == pytest.approx(0.025, abs=1e-9)
    assert h.type_one_error < 0.025  # obeying a non-binding futility rule only helps
    binding = group_sequential_boundaries(
        [0.25, 0.5, 0.75, 1],
        0.025,
        futility="hwang-shih-decani",
        futility_parameter=-2.0,
        binding=True,
    )
    hb = design_characteristics(binding)
    assert hb.type_one_error == pytest.approx(0.025, abs=1e-9)
    assert hb.type_one_error_ignoring_futility > 0.025


def test_stopping_probabilities_add_up_to_one():
    design = group_sequential_boundaries(
        [0.2, 0.5, 1], 0.025, futility="lan-demets-pocock", beta=0.1
    )
    for drift in (0.0, 1.0, design.drift):
        h = design_characteristics(design, drift)
        total = h.reject_per_look.sum() + h.futility_per_look.sum()
        assert total == pytest.approx(1.0, abs=1e-8)


def test_fixed_design_drift_is_the_sum_of_normal_quantiles():
    normal = NormalDist()
    expected = normal.inv_cdf(0.975) + normal.inv_cdf(0.8)
    assert fixed_design_drift(0.025, 0.2) == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------- conditional power

GSD_CP = (
    "gsDesign tests/testthat/_snaps/independent-test-gsBoundSummary.md, 'Test gsBoundSummary "
    'with "Spending" in exclude\': CP (at the interim estimate) and CP H1, 4 decimals'
)


@pytest.mark.parametrize(
    ("z", "cp_trend", "cp_h1"),
    [(2.7500, 0.9965, 0.9890), (0.4122, 0.0240, 0.4805)],
)
def test_conditional_power_matches_gsdesign(z, cp_trend, cp_h1):
    # source: GSD_CP
    # xrr <- gsDesign(k = 2, n.fix = nBinomial(p1 = .3, p2 = .15, scale = "RR"),
    #                 delta1 = log(.15 / .3), endpoint = "Binomial"); gsBoundSummary(xrr)
    # The design's bounds (2.7500, 1.9811; futility 0.4122) are checked in
    # test_boundaries.py; its drift is the one that gives power 0.9 with them.
    design = group_sequential_boundaries(
        [0.5, 1], 0.025, "hwang-shih-decani", -4.0, "hwang-shih-decani", -2.0, beta=0.1
    )
    final = design.efficacy_z[-1]
    trend = z / np.sqrt(0.5)  # drift estimated at the interim: z / sqrt(t)
    assert conditional_power(z, 0.5, final, trend) == pytest.approx(cp_trend, abs=6e-5)
    assert conditional_power(z, 0.5, final, design.drift) == pytest.approx(cp_h1, abs=6e-5)


def test_conditional_power_is_vectorised_and_bounded():
    z = np.linspace(-3, 5, 9)
    cp = conditional_power(z, 0.4, 1.96, 2.8)
    assert cp.shape == z.shape
    assert np.all(np.diff(cp) > 0) and np.all((cp >= 0) & (cp <= 1))


def test_conditional_power_is_the_b_value_formula():
    normal = NormalDist()
    z, t, c, drift = 1.2, 0.6, 2.0, 2.5
    expected = 1 - normal.cdf((c - z * t**0.5 - drift * (1 - t)) / (1 - t) ** 0.5)
    assert float(conditional_power(z, t, c, drift)) == pytest.approx(expected, rel=1e-12)


def test_conditional_power_needs_an_interim_fraction():
    with pytest.raises(CstrialError, match="information_fraction"):
        conditional_power(1.0, 1.0, 1.96, 2.0)
