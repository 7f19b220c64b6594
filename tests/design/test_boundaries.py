"""Group-sequential boundaries against published rpact, gsDesign and Jennison & Turnbull values.

REFERENCE_CASES is data: one dict per published design, with where the numbers were read
and, for R, the exact call. One parametrized check walks it. Only values read in the
named source are recorded; none was computed with cstrial. Futility bounds are compared
at the interim looks published (rpact gives K − 1 of them; gsDesign's last lower bound
equals the last upper bound, as ours does).
"""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from cstrial.design import (
    efficacy_bounds_at,
    group_sequential_boundaries,
    spending_function,
)
from cstrial.errors import CstrialError

RPACT_GS = (
    "rpact tests/testthat/test-f_design_group_sequential.R "
    "(github.com/rpact-com/rpact, commit 1d81a55ea2b5a4a4f4b5ff70dc25077077d8bddb)"
)
RPACT_PKG = (
    "rpact tests/testthat/test-pkgname.R and test-f_design_group_sequential.R, x0 "
    "(github.com/rpact-com/rpact)"
)
GSD_SUMMARY = (
    "gsDesign tests/testthat/_snaps/independent-test-gsBoundSummary.md with the calls in "
    "tests/testthat/test-independent-test-gsBoundSummary.R (github.com/keaven/gsDesign); "
    "printed to 4 decimals"
)
GSD_SEQDESIGN = (
    "gsDesign vignette gsDesignVsSEQDESIGN.Rmd (github.com/keaven/gsDesign): SAS PROC "
    "SEQDESIGN documentation Example 109.14 (method=errfuncobf, nstages=4, two-sided 0.05) "
    "and gsSurv(test.type = 1, alpha = 0.025, sfu = sfLDOF) both give these; 3 decimals"
)
JT_WT = (
    "Jennison & Turnbull (2000) Tables 2.9 and 2.10, as checked in gsDesign "
    "inst/unitTests/runit.output.R, test.JT.WT (github.com/keaven/gsDesign); 3 decimals. "
    "Two-sided symmetric alpha = 0.05 designs: a path must cross the lower bound and then "
    "the upper one for the two to differ from one-sided 0.025 designs, a probability of "
    "order 1e-6 or less, which moves the bound by far less than the 1e-3 compared here"
)

REFERENCE_CASES = [
    {
        "id": "rpact-OF-classical-K3",
        "source": RPACT_PKG,
        # getDesignGroupSequential()   # defaults: kMax = 3, alpha = 0.025, typeOfDesign = "OF"
        # rpact's "OF" is the classical O'Brien-Fleming design, i.e. Wang-Tsiatis delta = 0
        "design": dict(
            looks=[1 / 3, 2 / 3, 1], alpha=0.025, efficacy="wang-tsiatis", efficacy_parameter=0.0
        ),
        "efficacy_z": [3.4710914, 2.4544323, 2.0040356],
        "tol": 1e-5,
    },
    {
        "id": "rpact-asHSD0-unequal",
        "source": RPACT_GS + ", x1 and y1 <- getDesignCharacteristics(x1)",
        # x1 <- getDesignInverseNormal(kMax = 3, informationRates = c(0.2, 0.4, 1),
        #     alpha = 0.03, sided = 1, beta = 0.14, typeOfDesign = "asHSD", gammaA = 0)
        # (inverse normal and group sequential designs share their boundaries)
        "design": dict(
            looks=[0.2, 0.4, 1],
            alpha=0.03,
            beta=0.14,
            efficacy="hwang-shih-decani",
            efficacy_parameter=0.0,
        ),
        "efficacy_z": [2.5121443, 2.4228747, 2.0280392],
        "inflation_factor": 1.0788327,
        "tol": 1e-5,
    },
    {
        "id": "rpact-asHSD-bsHSD-nonbinding",
        "source": RPACT_GS + ", x2 and y2 <- getDesignCharacteristics(x2)",
        # x2 <- getDesignInverseNormal(kMax = 3, informationRates = c(0.2, 0.4, 1),
        #     alpha = 0.07, sided = 1, beta = 0.14, typeOfDesign = "asHSD", gammaA = -1,
        #     typeBetaSpending = "bsHSD", gammaB = -2)        # bindingFutility defaults FALSE
        "design": dict(
            looks=[0.2, 0.4, 1],
            alpha=0.07,
            beta=0.14,
            efficacy="hwang-shih-decani",
            efficacy_parameter=-1.0,
            futility="hwang-shih-decani",
            futility_parameter=-2.0,
        ),
        "efficacy_z": [2.364813, 2.1928805, 1.5660474],
        "futility_z": [-1.1063623, -0.35992439],
        "inflation_factor": 1.0869177,
        "tol": 1e-5,
    },
    {
        "id": "rpact-asKD-bsKD-nonbinding",
        "source": RPACT_GS + ", x3 and y3 <- getDesignCharacteristics(x3)",
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
        "efficacy_z": [2.8594012, 2.2435708, 1.9735737],
        "futility_z": [-1.1558435, 0.72836893],
        "inflation_factor": 1.0555891,
        "tol": 1e-5,
    },
    {
        "id": "rpact-asP-unequal",
        "source": RPACT_GS + ", x6a (critical values only)",
        # x6a <- getDesignGroupSequential(kMax = 3, alpha = 0.13, typeOfDesign = "asP",
        #     typeBetaSpending = "bsUser", informationRates = c(0.35, 0.7, 1),
        #     bindingFutility = FALSE, userBetaSpending = c(0.01, 0.05, 0.3))
        # Non-binding, so rpact's critical values ignore the (user-defined) futility
        # bounds: they are those of the efficacy-only design checked here.
        "design": dict(looks=[0.35, 0.7, 1], alpha=0.13, efficacy="lan-demets-pocock"),
        "efficacy_z": [1.5446617, 1.4828682, 1.4620058],
        "tol": 1e-5,
    },
    {
        "id": "rpact-asOF-bsKD-nonbinding-K3",
        "source": RPACT_GS + ", x7a (kMax = 3)",
        # x7a <- getDesignGroupSequential(kMax = 3, alpha = 0.13, beta = 0.41,
        #     typeOfDesign = "asOF", typeBetaSpending = "bsKD",
        #     informationRates = c(0.4, 0.75, 1), gammaB = 2.5, bindingFutility = FALSE)
        "design": dict(
            looks=[0.4, 0.75, 1],
            alpha=0.13,
            beta=0.41,
            efficacy="lan-demets-obrien-fleming",
            futility="kim-demets",
            futility_parameter=2.5,
            binding=False,
        ),
        "efficacy_z": [2.1280732, 1.4368565, 1.2468994],
        "futility_z": [-0.83725762, 0.35992547],
        "tol": 1e-5,
    },
    {
        "id": "rpact-asOF-bsKD-nonbinding-K4",
        "source": RPACT_GS + ", x7a (kMax = 4)",
        # x7a <- getDesignGroupSequential(kMax = 4, alpha = 0.13, beta = 0.41,
        #     typeOfDesign = "asOF", typeBetaSpending = "bsKD",
        #     informationRates = c(0.4, 0.75, 0.85, 1), gammaB = 2.5, bindingFutility = FALSE)
        "design": dict(
            looks=[0.4, 0.75, 0.85, 1],
            alpha=0.13,
            beta=0.41,
            efficacy="lan-demets-obrien-fleming",
            futility="kim-demets",
            futility_parameter=2.5,
            binding=False,
        ),
        "efficacy_z": [2.1280732, 1.4368565, 1.422873, 1.2970881],
        "futility_z": [-0.82676531, 0.3743303, 0.65077266],
        "tol": 1e-5,
    },
    {
        "id": "rpact-asOF-bsKD-binding-K3",
        "source": RPACT_GS + ", x7b (kMax = 3)",
        # x7b <- getDesignGroupSequential(kMax = 3, alpha = 0.13, beta = 0.41,
        #     typeOfDesign = "asOF", typeBetaSpending = "bsKD",
        #     informationRates = c(0.4, 0.75, 1), gammaB = 2.5, bindingFutility = TRUE)
        "design": dict(
            looks=[0.4, 0.75, 1],
            alpha=0.13,
            beta=0.41,
            efficacy="lan-demets-obrien-fleming",
            futility="kim-demets",
            futility_parameter=2.5,
            binding=True,
        ),
        "efficacy_z": [2.1280732, 1.4362896, 1.2218662],
        "futility_z": [-0.84937686, 0.34328914],
        "tol": 1e-5,
    },
    {
        "id": "rpact-asOF-bsKD-binding-K4",
        "source": RPACT_GS + ", x7b (kMax = 4)",
        # x7b <- getDesignGroupSequential(kMax = 4, alpha = 0.13, beta = 0.41,
        #     typeOfDesign = "asOF", typeBetaSpending = "bsKD",
        #     informationRates = c(0.4, 0.75, 0.85, 1), gammaB = 2.5, bindingFutility = TRUE)
        "design": dict(
            looks=[0.4, 0.75, 0.85, 1],
            alpha=0.13,
            beta=0.41,
            efficacy="lan-demets-obrien-fleming",
            futility="kim-demets",
            futility_parameter=2.5,
            binding=True,
        ),
        "efficacy_z": [2.1280732, 1.4362706, 1.4203748, 1.2576258],
        "futility_z": [-0.84247693, 0.35276055, 0.62744509],
        "tol": 1e-5,
    },
    {
        "id": "rpact-WT-0.39-unequal",
        "source": RPACT_GS + ", x8c",
        # x8c <- getDesignGroupSequential(kMax = 3, alpha = 0.025, sided = 1,
        #     informationRates = c(0.3, 0.8, 1), typeOfDesign = "WToptimum", beta = 0.23)
        # rpact reports x8c$deltaWT = 0.39: the bounds are Wang-Tsiatis with delta = 0.39
        "design": dict(
            looks=[0.3, 0.8, 1],
            alpha=0.025,
            beta=0.23,
            efficacy="wang-tsiatis",
            efficacy_parameter=0.39,
        ),
        "efficacy_z": [2.4761792, 2.2229286, 2.1690292],
        "tol": 1e-5,
    },
    {
        "id": "gsDesign-HSD-4-K5-efficacy-only",
        "source": GSD_SUMMARY + ", 'Test gsBoundSummary for gsDesign Object'",
        # gsDesign(nFixSurv = 0, k = 5, test.type = 1, n.fix = 1)
        # (defaults: alpha = 0.025, beta = 0.1, sfu = sfHSD, sfupar = -4)
        "design": dict(
            looks=[0.2, 0.4, 0.6, 0.8, 1],
            alpha=0.025,
            beta=0.1,
            efficacy="hwang-shih-decani",
            efficacy_parameter=-4.0,
        ),
        "efficacy_z": [3.2527, 2.9860, 2.6917, 2.3737, 2.0253],
        "tol": 1e-3,
    },
    {
        "id": "gsDesign-HSD-4-HSD-2-K5-nonbinding",
        "source": GSD_SUMMARY + ", 'Test gsBoundSummary for gsDesign Object, test.type > 1'",
        # gsDesign(nFixSurv = 3, k = 5, test.type = 4, n.fix = 1)
        # (defaults: alpha = 0.025, beta = 0.1, sfu = sfHSD, sfupar = -4, sfl = sfHSD,
        #  sflpar = -2; test.type = 4 is beta-spending with non-binding lower bound)
        "design": dict(
            looks=[0.2, 0.4, 0.6, 0.8, 1],
            alpha=0.025,
            beta=0.1,
            efficacy="hwang-shih-decani",
            efficacy_parameter=-4.0,
            futility="hwang-shih-decani",
            futility_parameter=-2.0,
        ),
        "efficacy_z": [3.2527, 2.9860, 2.6917, 2.3737, 2.0253],
        "futility_z": [-0.9016, -0.0367, 0.6945, 1.3603, 2.0253],
        "tol": 1e-3,
    },
    {
        "id": "gsDesign-default-K3-nonbinding",
        "source": GSD_SUMMARY + ", 'Test with Probability Of Success(POS) set to TRUE'",
        # gsDesign(nFixSurv = 0, delta = .3, delta1 = .3)
        # (defaults: k = 3, test.type = 4, alpha = 0.025, beta = 0.1, sfHSD(-4) / sfHSD(-2))
        "design": dict(
            looks=[1 / 3, 2 / 3, 1],
            alpha=0.025,
            beta=0.1,
            efficacy="hwang-shih-decani",
            efficacy_parameter=-4.0,
            futility="hwang-shih-decani",
            futility_parameter=-2.0,
        ),
        "efficacy_z": [3.0107, 2.5465, 1.9992],
        "futility_z": [-0.2387, 0.9411, 1.9992],
        "tol": 1e-3,
    },
    {
        "id": "gsDesign-default-K2-nonbinding",
        "source": GSD_SUMMARY + ", 'Test gsBoundSummary with \"Spending\" in exclude'",
        # n.fix <- nBinomial(p1 = .3, p2 = .15, scale = "RR")
        # gsDesign(k = 2, n.fix = n.fix, delta1 = log(.15 / .3), endpoint = "Binomial")
        # (defaults: test.type = 4, alpha = 0.025, beta = 0.1, sfHSD(-4) / sfHSD(-2))
        "design": dict(
            looks=[0.5, 1],
            alpha=0.025,
            beta=0.1,
            efficacy="hwang-shih-decani",
            efficacy_parameter=-4.0,
            futility="hwang-shih-decani",
            futility_parameter=-2.0,
        ),
        "efficacy_z": [2.7500, 1.9811],
        "futility_z": [0.4122, 1.9811],
        "tol": 1e-3,
    },
    {
        "id": "SAS-SEQDESIGN-LDOF-K4",
        "source": GSD_SEQDESIGN,
        # gsSurv(k = 4, test.type = 1, alpha = 0.025, beta = 0.10, sfu = sfLDOF,
        #        timing = c(.25, .50, .75, 1), ...)   (z bounds do not depend on the rest)
        "design": dict(
            looks=[0.25, 0.5, 0.75, 1], alpha=0.025, beta=0.1, efficacy="lan-demets-obrien-fleming"
        ),
        "efficacy_z": [4.333, 2.963, 2.359, 2.014],
        "tol": 1e-3,
    },
    {
        "id": "JT-Table-2.9-WT-0.1-K9",
        "source": JT_WT,
        # gsDesign(k = 9, test.type = 2, sfu = "WT", sfupar = 0.1, beta = 0.1)
        # round(x$n.I[9], 3) == 1.048; round(x$upper$bound[9], 3) == 2.113
        "design": dict(
            looks=list(np.arange(1, 10) / 9),
            alpha=0.025,
            beta=0.1,
            efficacy="wang-tsiatis",
            efficacy_parameter=0.1,
        ),
        "final_efficacy_z": 2.113,
        "inflation_factor": 1.048,
        "tol": 1e-3,
    },
    {
        "id": "JT-Table-2.10-WT-0.25-K6",
        "source": JT_WT,
        # gsDesign(k = 6, test.type = 2, sfu = "WT", sfupar = 0.25, beta = 0.2)
        # round(x$n.I[6], 3) == 1.077; round(x$upper$bound[6], 3) == 2.154
        "design": dict(
            looks=list(np.arange(1, 7) / 6),
            alpha=0.025,
            beta=0.2,
            efficacy="wang-tsiatis",
            efficacy_parameter=0.25,
        ),
        "final_efficacy_z": 2.154,
        "inflation_factor": 1.077,
        "tol": 1e-3,
    },
    {
        "id": "JT-Table-2.10-WT-0.4-K7",
        "source": JT_WT,
        # gsDesign(k = 7, test.type = 2, sfu = "WT", sfupar = 0.4, beta = 0.2)
        # round(x$n.I[7], 3) == 1.159; round(x$upper$bound[7], 3) == 2.313
        "design": dict(
            looks=list(np.arange(1, 8) / 7),
            alpha=0.025,
            beta=0.2,
            efficacy="wang-tsiatis",
            efficacy_parameter=0.4,
        ),
        "final_efficacy_z": 2.313,
        "inflation_factor": 1.159,
        "tol": 1e-3,
    },
]


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=[c["id"] for c in REFERENCE_CASES])
def test_boundaries_match_published_values(case):
    design = group_sequential_boundaries(**case["design"])
    tol = case["tol"]
    if "efficacy_z" in case:
        np.testing.assert_allclose(design.efficacy_z, case["efficacy_z"], rtol=0, atol=tol)
    if "final_efficacy_z" in case:
        assert design.efficacy_z[-1] == pytest.approx(case["final_efficacy_z"], abs=tol)
    if "futility_z" in case:
        published = np.asarray(case["futility_z"])
        assert design.futility_z is not None
        np.testing.assert_allclose(design.futility_z[: published.size], published, rtol=0, atol=tol)
    if "inflation_factor" in case:
        # the inflation factor is published with the same number of decimals as z
        assert design.inflation_factor == pytest.approx(case["inflation_factor"], abs=tol)


def test_reference_table_covers_what_the_specification_asks():
    families = {c["design"]["efficacy"] for c in REFERENCE_CASES}
    assert {
        "lan-demets-obrien-fleming",
        "lan-demets-pocock",
        "hwang-shih-decani",
        "kim-demets",
        "wang-tsiatis",
    } <= families
    looks = {len(c["design"]["looks"]) for c in REFERENCE_CASES}
    assert {2, 3, 4, 5} <= looks
    assert any(c["design"].get("binding") for c in REFERENCE_CASES)
    assert any(
        c["design"].get("futility") and not c["design"].get("binding") for c in REFERENCE_CASES
    )
    assert sum("efficacy_z" in c or "final_efficacy_z" in c for c in REFERENCE_CASES) >= 12


# ----------------------------------------------------------------- alpha spending, exactly

SPENDING_DESIGNS = [
    dict(looks=[0.25, 0.5, 0.75, 1], efficacy="lan-demets-obrien-fleming"),
    dict(looks=[0.3, 0.6, 1], efficacy="lan-demets-pocock"),
    dict(looks=[0.2, 0.5, 0.8, 1], efficacy="hwang-shih-decani", efficacy_parameter=-4.0),
    dict(looks=[0.4, 0.7, 1], efficacy="hwang-shih-decani", efficacy_parameter=1.0),
    dict(looks=[0.33, 0.67, 1], efficacy="kim-demets", efficacy_parameter=3.0),
]


@pytest.mark.parametrize("kwargs", SPENDING_DESIGNS, ids=lambda k: k["efficacy"])
def test_cumulative_alpha_equals_the_spending_function_at_every_look(kwargs, mvn):
    design = group_sequential_boundaries(alpha=0.025, **kwargs)
    target = spending_function(
        kwargs["efficacy"], kwargs["looks"], 0.025, kwargs.get("efficacy_parameter")
    )
    # by construction, on our own integration ...
    np.testing.assert_allclose(design.cumulative_alpha, target, rtol=0, atol=1e-9)
    # ... and independently, on scipy's multivariate normal cdf (Genz quasi-Monte Carlo)
    upper, _ = mvn(design.efficacy_z, None, design.information, 0.0)
    np.testing.assert_allclose(np.cumsum(upper), target, rtol=0, atol=1e-6)


def test_binding_futility_spends_alpha_exactly_with_futility_in_place(mvn):
    design = group_sequential_boundaries(
        [0.3, 0.6, 1],
        0.025,
        "lan-demets-obrien-fleming",
        None,
        "hwang-shih-decani",
        -2.0,
        binding=True,
        beta=0.1,
    )
    target = spending_function("lan-demets-obrien-fleming", design.information, 0.025)
    upper, _ = mvn(design.efficacy_z, design.futility_z, design.information, 0.0)
    np.testing.assert_allclose(np.cumsum(upper), target, rtol=0, atol=1e-6)
    np.testing.assert_allclose(design.cumulative_alpha, target, rtol=0, atol=1e-9)


def test_wang_tsiatis_spends_alpha_in_total(mvn):
    design = group_sequential_boundaries([0.25, 0.6, 1], 0.025, "wang-tsiatis", 0.25)
    upper, _ = mvn(design.efficacy_z, None, design.information, 0.0)
    assert upper.sum() == pytest.approx(0.025, abs=1e-6)
    shape = design.efficacy_z / np.asarray(design.information) ** (0.25 - 0.5)
    np.testing.assert_allclose(shape, shape[0], rtol=1e-12)


# ----------------------------------------------------------------- structural properties


def test_fixed_design_is_the_normal_quantile_with_no_inflation():
    design = group_sequential_boundaries([1.0], 0.025, beta=0.1)
    assert design.efficacy_z[0] == pytest.approx(NormalDist().inv_cdf(0.975), abs=1e-12)
    assert design.inflation_factor == pytest.approx(1.0, abs=1e-12)
    assert design.cumulative_alpha[-1] == pytest.approx(0.025, abs=1e-12)
    drift = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.9)
    assert design.drift == pytest.approx(drift, abs=1e-12)


def test_fixed_design_with_futility_has_one_bound():
    design = group_sequential_boundaries([1.0], 0.025, futility="lan-demets-pocock")
    assert design.futility_z is not None
    assert design.futility_z[0] == design.efficacy_z[0]
    assert design.inflation_factor == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("futility", ["hwang-shih-decani", "kim-demets", "lan-demets-pocock"])
def test_non_binding_futility_leaves_the_efficacy_bounds_unchanged(futility):
    looks = [0.25, 0.5, 0.75, 1]
    plain = group_sequential_boundaries(looks, 0.025)
    parameter = {"hwang-shih-decani": -2.0, "kim-demets": 2.0}.get(futility)
    with_futility = group_sequential_boundaries(
        looks, 0.025, futility=futility, futility_parameter=parameter, binding=False
    )
    np.testing.assert_array_equal(with_futility.efficacy_z, plain.efficacy_z)
    np.testing.assert_allclose(with_futility.cumulative_alpha, plain.cumulative_alpha)


def test_binding_futility_lowers_the_efficacy_bounds_after_the_first_look():
    looks = [0.25, 0.5, 0.75, 1]
    kwargs = dict(futility="hwang-shih-decani", futility_parameter=-2.0, beta=0.1)
    non_binding = group_sequential_boundaries(looks, 0.025, binding=False, **kwargs)
    binding = group_sequential_boundaries(looks, 0.025, binding=True, **kwargs)
    assert binding.efficacy_z[0] == pytest.approx(non_binding.efficacy_z[0], abs=1e-9)
    assert np.all(binding.efficacy_z[1:] < non_binding.efficacy_z[1:])
    assert binding.inflation_factor < non_binding.inflation_factor


@pytest.mark.parametrize(
    "looks", [[0.5, 1], [1 / 3, 2 / 3, 1], [0.1, 0.25, 0.5, 0.75, 1], list(np.arange(1, 7) / 6)]
)
def test_obrien_fleming_type_bounds_decrease_from_look_to_look(looks):
    design = group_sequential_boundaries(looks, 0.025)
    assert np.all(np.diff(design.efficacy_z) < 0)


def test_futility_bounds_increase_and_meet_the_efficacy_bound_at_the_end():
    design = group_sequential_boundaries(
        [0.2, 0.4, 0.6, 0.8, 1],
        0.025,
        futility="hwang-shih-decani",
        futility_parameter=-2.0,
        beta=0.1,
    )
    assert design.futility_z is not None
    assert np.all(np.diff(design.futility_z) > 0)
    assert design.futility_z[-1] == design.efficacy_z[-1]
    assert np.all(design.futility_z <= design.efficacy_z)
    assert design.beta_spent is not None
    assert design.beta_spent.sum() == pytest.approx(0.1, abs=1e-8)


def test_no_interim_efficacy_spends_everything_at_the_end():
    design = group_sequential_boundaries([0.5, 0.75, 1], 0.025, efficacy="none")
    assert np.all(np.isinf(design.efficacy_z[:-1]))
    # the grid integration of the two unbounded interim looks is accurate to ~1e-8
    assert design.efficacy_z[-1] == pytest.approx(NormalDist().inv_cdf(0.975), abs=1e-6)
    np.testing.assert_allclose(design.cumulative_alpha, [0.0, 0.0, 0.025], atol=1e-9)
    assert design.to_dict()["efficacy_z"][:2] == [None, None]


def test_to_dict_has_the_documented_json_shape():
    design = group_sequential_boundaries(
        [0.33, 0.67, 1.0], 0.025, futility="hwang-shih-decani", futility_parameter=-2.0
    )
    out = json.loads(json.dumps(design.to_dict()))
    for key in (
        "information",
        "efficacy_z",
        "futility_z",
        "nominal_p",
        "alpha_spent",
        "cumulative_alpha",
        "inflation_factor",
    ):
        assert key in out
    assert len(out["efficacy_z"]) == 3 and len(out["futility_z"]) == 3
    assert out["nominal_p"][0] == pytest.approx(1 - NormalDist().cdf(out["efficacy_z"][0]))
    no_futility = group_sequential_boundaries([0.5, 1.0], 0.025).to_dict()
    assert no_futility["futility_z"] is None


def test_bounds_at_the_planned_fractions_are_the_planned_bounds():
    looks = [0.3, 0.6, 1.0]
    planned = group_sequential_boundaries(looks, 0.025, "kim-demets", 2.0)
    np.testing.assert_allclose(
        efficacy_bounds_at(looks, 0.025, "kim-demets", 2.0), planned.efficacy_z, atol=1e-12
    )


def test_bounds_at_observed_fractions_spend_the_function_there(mvn):
    observed = [0.27, 0.64, 0.97]  # the final analysis came with 97% of the information
    bounds = efficacy_bounds_at(observed, 0.025, final=True)
    target = spending_function("lan-demets-obrien-fleming", observed, 0.025)
    target[-1] = 0.025  # the final analysis spends whatever alpha remains
    upper, _ = mvn(bounds, None, observed, 0.0)
    np.testing.assert_allclose(np.cumsum(upper), target, atol=1e-6)


def test_interim_bounds_at_observed_fractions_do_not_spend_the_rest():
    bounds = efficacy_bounds_at([0.3, 0.55], 0.025)
    full = efficacy_bounds_at([0.3, 0.55, 1.0], 0.025)
    np.testing.assert_allclose(bounds, full[:2], atol=1e-12)


def test_over_running_final_analysis_spends_exactly_alpha(mvn):
    observed = [0.35, 0.7, 1.08]
    bounds = efficacy_bounds_at(observed, 0.025)
    upper, _ = mvn(bounds, None, observed, 0.0)
    assert upper.sum() == pytest.approx(0.025, abs=1e-6)


def test_wang_tsiatis_bounds_at_observed_fractions():
    planned = group_sequential_boundaries([0.5, 1.0], 0.025, "wang-tsiatis", 0.5)
    np.testing.assert_allclose(
        efficacy_bounds_at([0.5, 1.0], 0.025, "wang-tsiatis", 0.5),
        planned.efficacy_z,
        atol=1e-12,
    )
    interim = efficacy_bounds_at([0.5], 0.025, "wang-tsiatis", 0.5)
    assert interim[0] == pytest.approx(planned.efficacy_z[0], abs=1e-12)


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(looks=[0.5, 0.9], alpha=0.025), "ending at 1.0"),
        (dict(looks=[0.6, 0.4, 1.0], alpha=0.025), "increase"),
        (dict(looks=[0.5, 1.0], alpha=0.7), "alpha"),
        (dict(looks=[0.5, 1.0], alpha=0.025, beta=0.99), "beta"),
        (dict(looks=[0.5, 1.0], alpha=0.025, efficacy="obf"), "unknown spending family"),
        (dict(looks=[0.5, 1.0], alpha=0.025, efficacy="hwang-shih-decani"), "gamma"),
        (
            dict(looks=[0.5, 1.0], alpha=0.025, efficacy="wang-tsiatis", efficacy_parameter=3),
            "delta",
        ),
        (
            dict(looks=[0.5, 1.0], alpha=0.025, futility="wang-tsiatis", futility_parameter=0),
            "not a spending function",
        ),
        (
            dict(
                looks=[0.5, 1.0],
                alpha=0.025,
                efficacy="wang-tsiatis",
                efficacy_parameter=0,
                futility="lan-demets-pocock",
                binding=True,
            ),
            "binding",
        ),
    ],
)
def test_bad_designs_are_cstrial_errors_that_say_what_is_wrong(kwargs, message):
    with pytest.raises(CstrialError, match=message):
        group_sequential_boundaries(**kwargs)


def test_boundaries_arrays_are_read_only():
    design = group_sequential_boundaries([0.5, 1.0], 0.025)
    with pytest.raises(ValueError):
        design.efficacy_z[0] = 0.0


def test_reference_values_are_finite_numbers():
    for case in REFERENCE_CASES:
        for key in ("efficacy_z", "futility_z"):
            for value in case.get(key, []):
                assert math.isfinite(value)


def _crossing_probabilities(t, lower, upper):
    """P(no stop before look k, Z_k >= upper_k) under H0 for each k, by Genz's QMC
    (scipy.stats.multivariate_normal), independent of cstrial's recursive integration."""
    from scipy.stats import multivariate_normal

    t = np.asarray(t)
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    out = []
    for k in range(t.size):
        low = np.append(np.asarray(lower[:k], float), upper[k])
        high = np.append(np.asarray(upper[:k], float), np.inf)
        mvn = multivariate_normal(
            np.zeros(k + 1), cov[: k + 1, : k + 1], maxpts=2_000_000, abseps=1e-9, releps=1e-7
        )
        out.append(
            float(mvn.cdf(high, lower_limit=low)) if k else float(1 - NormalDist().cdf(upper[0]))
        )
    return np.array(out)


def test_binding_futility_without_early_efficacy_spends_exactly_alpha():
    """Binding futility bounds are in place when the efficacy bound is solved, also with
    no early efficacy: the final bound is below 1.96 and the type I error is alpha
    (rpact's noEarlyEfficacy keeps 1.959964 here: P(reject) 0.0233 < alpha)."""
    b = group_sequential_boundaries(
        [0.5, 1.0], 0.025, "none", futility="lan-demets-obrien-fleming", binding=True, beta=0.2
    )
    assert math.isinf(b.efficacy_z[0]) and b.efficacy_z[1] < 1.959964
    crossing = _crossing_probabilities([0.5, 1.0], b.futility_z, b.efficacy_z)
    assert crossing.sum() == pytest.approx(0.025, abs=1e-6)


def test_closely_spaced_looks_spend_the_alpha_of_the_spending_function():
    """Looks 0.02 apart (information 0.48, 0.50, 0.52, 1): each look's crossing
    probability equals the O'Brien-Fleming-type spending increment to 1e-6 by Genz's
    QMC. (rpact 3.3.4 gives 2.988448 at look 3, 2e-3 below this bound.)"""
    t = [0.48, 0.5, 0.52, 1.0]
    b = group_sequential_boundaries(t, 0.025, "lan-demets-obrien-fleming")
    crossing = _crossing_probabilities(t, [-np.inf] * 4, b.efficacy_z)
    spent = np.diff(
        np.concatenate(
            [[0.0], spending_function("lan-demets-obrien-fleming", np.asarray(t), 0.025)]
        )
    )
    np.testing.assert_allclose(crossing, spent, atol=1e-6)
    assert b.efficacy_z[2] == pytest.approx(2.990567, abs=2e-5)
