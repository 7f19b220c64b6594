"""Many-to-one multiplicity: Dunnett bounds, intersection tests and closed testing.

Reference values are data: published Dunnett (1955) critical values; group-sequential
Dunnett bounds computed in R with mvtnorm (tests/design/rpact/dunnett.R →
dunnett_bounds.json); and rpact's closed combination tests on fixed multi-arm data sets
(tests/design/rpact/multiarm.R → multiarm_closed_tests.json), with the exact R calls
kept in those files. None was computed with cstrial.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr, ndtri
from scipy.stats import multivariate_normal

from cstrial.design import group_sequential_boundaries
from cstrial.design.multiplicity import (
    INTERSECTION_TESTS,
    closed_combination_test,
    dunnett_group_sequential_bounds,
    hochberg,
    holm,
    intersection_hypotheses,
    intersection_p_values,
    inverse_normal_weights,
    many_to_one_correlation,
    multiplicity_rejections,
)
from cstrial.errors import CstrialError

HERE = Path(__file__).parent / "rpact"
MVTNORM = json.loads((HERE / "dunnett_bounds.json").read_text())
RPACT = json.loads((HERE / "multiarm_closed_tests.json").read_text())

# ----------------------------------------------------------------- published critical values

DUNNETT_1955 = (
    "Dunnett (1955), J Am Stat Assoc 50:1096-1121, Table 1a (one-sided, df = infinity), 2 decimals"
)
DUNNETT_TABLE = [
    # one-sided alpha, arms M, equal allocation (rho = 0.5), critical value, source
    {"alpha": 0.05, "arms": 2, "c": 1.92, "tol": 5e-3, "source": DUNNETT_1955},
    {"alpha": 0.05, "arms": 3, "c": 2.06, "tol": 5e-3, "source": DUNNETT_1955},
    {"alpha": 0.05, "arms": 4, "c": 2.16, "tol": 5e-3, "source": DUNNETT_1955},
    {"alpha": 0.01, "arms": 2, "c": 2.56, "tol": 5e-3, "source": DUNNETT_1955},
    {"alpha": 0.01, "arms": 3, "c": 2.68, "tol": 5e-3, "source": DUNNETT_1955},
    {"alpha": 0.01, "arms": 4, "c": 2.77, "tol": 5e-3, "source": DUNNETT_1955},
    # the bivariate normal with rho = 1/2: P(max(Z1, Z2) >= 2.212) = 0.025 (the value)
    {"alpha": 0.025, "arms": 2, "c": 2.212, "tol": 5e-4, "source": "issue, 3 decimals"},
]


@pytest.mark.parametrize("case", DUNNETT_TABLE, ids=lambda c: f"a{c['alpha']}-M{c['arms']}")
def test_single_look_bound_is_dunnetts_critical_value(case):
    correlation = many_to_one_correlation([1.0] * (case["arms"] + 1))
    bounds = dunnett_group_sequential_bounds([1.0], case["alpha"], correlation, efficacy="none")
    assert bounds.efficacy_z[0] == pytest.approx(case["c"], abs=case["tol"])


# ----------------------------------------------------------------- GS bounds against mvtnorm

# designs whose bounds take more than a few seconds (K·M ≥ 6 with QMC): run with -m slow
SLOW_DESIGNS = {"K2-M3-Pocock-unequal-looks", "K3-M2-OF-unequal-allocation",
                "K3-M2-WT05-MAMS-Pocock", "K3-M3-HSD-4"}  # fmt: skip


def _mvtnorm_cases():
    for case in MVTNORM["designs"]:
        marks = [pytest.mark.slow] if case["id"] in SLOW_DESIGNS else []
        yield pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", list(_mvtnorm_cases()))
def test_group_sequential_dunnett_bounds_equal_mvtnorms_to_1e4(case):
    parameter = case["efficacy_parameter"]
    parameter = None if parameter == {} else parameter  # jsonlite writes R's NULL as {}
    bounds = dunnett_group_sequential_bounds(
        np.atleast_1d(case["looks"]),
        case["alpha"],
        many_to_one_correlation(case["allocation"]),
        efficacy=case["efficacy"],
        efficacy_parameter=parameter,
    )
    reference = np.atleast_1d(np.array(case["efficacy_z"], dtype=float))
    np.testing.assert_allclose(bounds.efficacy_z, reference, rtol=0, atol=1e-4)
    assert bounds.cumulative_alpha[-1] == pytest.approx(case["alpha"], abs=2e-6)


def test_reference_designs_cover_shapes_looks_and_allocations():
    families = {c["efficacy"] for c in MVTNORM["designs"]}
    assert {"none", "lan-demets-obrien-fleming", "lan-demets-pocock", "kim-demets",
            "hwang-shih-decani", "wang-tsiatis"} <= families  # fmt: skip
    assert {len(np.atleast_1d(c["looks"])) for c in MVTNORM["designs"]} == {1, 2, 3}
    assert any(len(set(c["allocation"])) > 1 for c in MVTNORM["designs"])


def test_one_arm_reduces_to_the_univariate_group_sequential_bounds():
    looks = [0.3, 0.6, 1.0]
    one_arm = dunnett_group_sequential_bounds(looks, 0.025, [[1.0]], "lan-demets-pocock")
    univariate = group_sequential_boundaries(looks, 0.025, "lan-demets-pocock")
    # three looks are a 3-dimensional integral, done by scipy's QMC: good to ~1e-5
    np.testing.assert_allclose(one_arm.efficacy_z, univariate.efficacy_z, atol=5e-5)


def test_spending_design_spends_the_spending_function_on_the_maximum():
    bounds = dunnett_group_sequential_bounds([0.5, 1.0], 0.025, many_to_one_correlation([1, 1, 1]))
    target = 2 * ndtr(-ndtri(1 - 0.025 / 2) / np.sqrt([0.5, 1.0]))
    np.testing.assert_allclose(bounds.cumulative_alpha, target, atol=2e-6)
    assert bounds.arms == 2 and bounds.looks == 2
    assert json.loads(json.dumps(bounds.to_dict()))["efficacy_z"][1] == pytest.approx(
        bounds.efficacy_z[1]
    )


def _shared_control_paths(rng, n, looks, allocation, drift=None):
    """Cumulative z of M arms vs a shared control at each look, by simulation.

    Simulates the control's and each arm's standardised sums as independent Brownian
    motions in information time and forms the two-sample z statistics from them.
    """
    t = np.asarray(looks, dtype=float)
    w = np.asarray(allocation, dtype=float)
    increments = (
        rng.standard_normal((n, t.size, w.size)) * np.sqrt(np.diff(t, prepend=0.0))[None, :, None]
    )
    paths = np.cumsum(increments, axis=1) / np.sqrt(t)[None, :, None]  # N(0,1) per group
    # mean of group g is paths_g / sqrt(n_g); z_i = (mean_i - mean_0) / sqrt(1/n_i + 1/n_0)
    n_g = w / w.sum()
    diff = paths[:, :, 1:] / np.sqrt(n_g[1:]) - paths[:, :, :1] / np.sqrt(n_g[0])
    z = diff / np.sqrt(1 / n_g[1:] + 1 / n_g[0])
    if drift is not None:
        z = z + np.asarray(drift)[None, None, :] * np.sqrt(t)[None, :, None]
    return z


def test_familywise_error_of_dunnett_bounds_is_alpha_under_the_global_null():
    allocation = [1.5, 1, 1]
    looks = [0.5, 1.0]
    bounds = dunnett_group_sequential_bounds(looks, 0.025, many_to_one_correlation(allocation))
    n = 60_000
    z = _shared_control_paths(np.random.default_rng(11), n, looks, allocation)
    fwer = np.mean(np.any(z >= bounds.efficacy_z[None, :, None], axis=(1, 2)))
    se = np.sqrt(0.025 * 0.975 / n)
    assert abs(fwer - 0.025) < 4 * se


# ----------------------------------------------------------------- correlation


def test_equal_allocation_gives_correlation_one_half():
    np.testing.assert_allclose(
        many_to_one_correlation([1, 1, 1, 1]),
        [[1, 0.5, 0.5], [0.5, 1, 0.5], [0.5, 0.5, 1]],
    )


def test_correlation_follows_dunnetts_formula_for_unequal_allocation():
    rho = many_to_one_correlation([2, 1, 3])
    assert rho[0, 1] == pytest.approx(np.sqrt(1 * 3 / ((2 + 1) * (2 + 3))))


def test_observed_sample_sizes_give_a_correlation_per_replicate_with_nan_for_dropped_arms():
    sizes = np.array([[50, 50, 50], [40, 60, np.nan]])
    rho = many_to_one_correlation(sizes)
    assert rho.shape == (2, 2, 2)
    assert rho[0, 0, 1] == pytest.approx(0.5)
    assert rho[1, 0, 0] == 1.0 and np.isnan(rho[1, 0, 1]) and np.isnan(rho[1, 1, 1])


def test_a_zero_control_share_is_refused_with_a_remedy():
    with pytest.raises(CstrialError, match="control share"):
        many_to_one_correlation([0, 1, 1])


# ----------------------------------------------------------------- intersection tests


def test_bonferroni_simes_and_sidak_follow_their_formulas_over_the_present_arms():
    p = np.array([[0.01, 0.04, 0.03], [0.02, np.nan, 0.5], [np.nan, np.nan, np.nan]])
    z = -ndtri(p)
    members = [0, 1, 2]
    bonferroni = intersection_p_values(z, members, "bonferroni")
    np.testing.assert_allclose(bonferroni[:2], [0.03, 0.04])
    simes = intersection_p_values(z, members, "simes")
    np.testing.assert_allclose(simes[:2], [min(3 * 0.01, 3 * 0.03 / 2, 0.04), min(0.04, 0.5)])
    sidak = intersection_p_values(z, members, "sidak")
    np.testing.assert_allclose(sidak[:2], [1 - 0.99**3, 1 - 0.98**2])
    assert np.all(np.isnan([bonferroni[2], simes[2], sidak[2]]))


def _mvn_tail(c, correlation):
    dist = multivariate_normal(
        mean=np.zeros(len(correlation)), cov=correlation, abseps=1e-8, maxpts=10**7, seed=1
    )
    return 1.0 - dist.cdf(np.full(len(correlation), c))


@pytest.mark.parametrize(
    "allocation",
    [
        [1, 1, 1, 1],
        [2, 1, 1, 1],
        pytest.param([1, 3, 1, 0.5], marks=pytest.mark.slow),  # scipy's reference: seconds
        pytest.param([1, 9, 9, 9], marks=pytest.mark.slow),
    ],
    ids=str,
)
def test_dunnett_p_value_equals_scipys_multivariate_normal(allocation):
    z = np.array([[0.3, 2.1, -1.0], [2.8, 2.5, 2.9], [-0.5, -1.2, 0.1], [4.0, 1.0, 0.0]])
    p = intersection_p_values(z, [0, 1, 2], "dunnett", allocation=allocation)
    correlation = many_to_one_correlation(allocation)
    reference = [_mvn_tail(row.max(), correlation) for row in z]
    np.testing.assert_allclose(p, reference, rtol=1e-5, atol=2e-8)


def test_dunnett_p_values_with_the_planned_allocation_match_those_from_sample_sizes():
    # the planned allocation goes through a cached interpolation table, sample sizes
    # differing between replicates through the quadrature; arms dropped in some rows
    rng = np.random.default_rng(6)
    z = rng.normal(1.0, 1.5, size=(400, 3))
    z[::3, 1] = np.nan
    planned = intersection_p_values(z, [0, 1, 2], "dunnett", allocation=[2, 1, 1, 1])
    sizes = np.tile([100.0, 50.0, 50.0, 50.0], (400, 1)) * (1 + 1e-13 * np.arange(400))[:, None]
    observed = intersection_p_values(z, [0, 1, 2], "dunnett", allocation=sizes)
    np.testing.assert_allclose(planned, observed, rtol=1e-8)


def test_dunnett_p_value_of_a_sub_intersection_uses_the_correlation_of_its_arms():
    z = np.array([[1.9, 2.2, 0.4]])
    allocation = [2, 1, 1.5, 1]
    p = intersection_p_values(z, [0, 1], "dunnett", allocation=allocation)
    correlation = many_to_one_correlation(allocation)[:2, :2]
    assert p[0] == pytest.approx(_mvn_tail(2.2, correlation), rel=1e-5)
    single = intersection_p_values(z, [2], "dunnett", allocation=allocation)
    assert single[0] == pytest.approx(ndtr(-0.4), rel=1e-12)


def test_dunnett_lies_between_sidak_and_the_smallest_p_value():
    z = np.random.default_rng(3).normal(1.0, 1.2, size=(500, 3))
    allocation = [1, 1, 1, 1]
    dunnett = intersection_p_values(z, [0, 1, 2], "dunnett", allocation=allocation)
    sidak = intersection_p_values(z, [0, 1, 2], "sidak")
    smallest = ndtr(-z.max(axis=1))
    assert np.all(dunnett <= sidak + 1e-12) and np.all(dunnett >= smallest - 1e-12)


def test_spiessens_debois_p_value_uses_correlation_root_of_the_subgroup_share():
    z = np.array([[2.1, 1.7], [0.2, 2.6]])
    fraction = 0.36  # n_S / n_F: correlation 0.6
    p = intersection_p_values(z, [0, 1], "spiessens-debois", subgroup_fraction=fraction)
    correlation = np.array([[1.0, 0.6], [0.6, 1.0]])
    reference = [_mvn_tail(row.max(), correlation) for row in z]
    np.testing.assert_allclose(p, reference, rtol=1e-6)


def test_unknown_intersection_test_and_missing_allocation_say_what_to_give():
    with pytest.raises(CstrialError, match="expected one of bonferroni"):
        intersection_p_values(np.zeros((1, 2)), [0, 1], "tukey")
    with pytest.raises(CstrialError, match="allocation"):
        intersection_p_values(np.zeros((1, 2)), [0, 1], "dunnett")
    with pytest.raises(CstrialError, match="control first"):
        intersection_p_values(np.zeros((1, 2)), [0, 1], "dunnett", allocation=[1, 1])


@pytest.mark.slow
@pytest.mark.parametrize("test", ["bonferroni", "simes", "sidak", "dunnett"])
def test_every_intersection_test_keeps_its_level_under_the_global_null(test):
    n, alpha = 40_000, 0.025
    allocation = [1, 1, 1, 1]
    z = _shared_control_paths(np.random.default_rng(5), n, [1.0], allocation)[:, 0, :]
    for members in ([0, 1, 2], [0, 2]):
        p = intersection_p_values(z, members, test, allocation=allocation)
        size = np.mean(p <= alpha)
        se = np.sqrt(alpha * (1 - alpha) / n)
        assert size <= alpha + 4 * se
        if test == "dunnett":  # exact: the level is attained
            assert abs(size - alpha) < 4 * se


# ----------------------------------------------------------------- closed testing vs rpact


def _rpact_case(case):
    """rpact's stage-wise data as closed_combination_test inputs (one replicate)."""
    if case["normal"]:
        z = np.array(case["test_statistics"], dtype=float).T  # (K, M)
    else:  # t tests: the p-value-based tests only see p, i.e. z = Φ⁻¹(1 − p)
        z = -ndtri(np.array(case["separate_p_values"], dtype=float).T)
    sizes = np.array(case["sample_sizes"], dtype=float)  # (K, M+1), control first
    return z[None], sizes[None]


@pytest.mark.parametrize("case", RPACT["cases"], ids=[c["id"] for c in RPACT["cases"]])
def test_closed_combination_test_reproduces_rpact(case):
    z, sizes = _rpact_case(case)
    test = case["intersection_test"].lower()
    result = closed_combination_test(
        z,
        case["critical_values"][: z.shape[1]],
        case["weights"][: z.shape[1]],
        test,
        allocation=sizes if test == "dunnett" else None,
    )
    np.testing.assert_array_equal(result.intersections, np.array(case["indices"], dtype=bool))
    # rpact integrates the multivariate normal with eps = 1e-6 (as251Normal)
    tol = 2e-6 if test == "dunnett" else 1e-12
    stage_p = np.array(case["adjusted_stage_wise_p_values"], dtype=float)  # (n_I, K)
    np.testing.assert_allclose(result.stage_p[0].T, stage_p, rtol=0, atol=tol)
    combination = np.array(case["overall_adjusted_test_statistics"], dtype=float)
    np.testing.assert_allclose(result.combination_z[0].T, combination, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(
        result.intersection_rejected[0].T, np.array(case["rejected_intersections"], dtype=bool)
    )
    np.testing.assert_array_equal(result.rejected[0].T, np.array(case["rejected"], dtype=bool))


def test_rpact_data_sets_cover_deselection_and_earlier_rejection():
    ids = " ".join(c["id"] for c in RPACT["cases"])
    assert "dropped" in ids and "rejected-early" in ids
    assert {c["intersection_test"] for c in RPACT["cases"]} == {
        "Dunnett", "Bonferroni", "Simes", "Sidak"}  # fmt: skip
    early = next(c for c in RPACT["cases"] if "rejected-early" in c["id"])
    statistic = np.array(early["overall_adjusted_test_statistics"], dtype=float)
    # rejected at look 2, below the bound at look 3, and still counted as rejected
    assert np.all(statistic[:, 2][~np.isnan(statistic[:, 2])] < early["critical_values"][2])
    assert np.all(np.array(early["rejected"])[:, 2])


def test_an_intersection_of_dropped_arms_cannot_be_newly_rejected():
    # arm 2 dropped after look 1; huge stage-2 evidence for arm 1 cannot reject H_2
    z = np.array([[[1.0, 1.0], [6.0, np.nan]]])
    result = closed_combination_test(z, [2.8, 1.98], [np.sqrt(0.5)] * 2, "bonferroni")
    assert result.rejected[0, 1, 0] and not result.rejected[0, 1, 1]
    assert np.isnan(result.stage_p[0, 1, 2])  # {2} alone has no stage-2 p-value
    assert result.first_rejection_look()[0].tolist() == [1, -1]


def test_arms_cannot_come_back_after_being_dropped():
    z = np.array([[[1.0, np.nan], [1.0, 1.0]]])
    with pytest.raises(CstrialError, match="not added back"):
        closed_combination_test(z, [2.8, 1.98], [1, 1], "simes")


def test_inverse_normal_weights_are_rpacts():
    np.testing.assert_allclose(inverse_normal_weights([0.25, 0.5, 1.0]), [0.5, 0.5, np.sqrt(0.5)])


def test_intersections_are_listed_in_rpacts_order():
    assert intersection_hypotheses(3).astype(int).tolist() == [
        [1, 1, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]  # fmt: skip


def _select_best_after_look_one(z):
    """Keep only the arm with the largest look-1 z statistic at look 2."""
    z = z.copy()
    best = np.argmax(z[:, 0, :], axis=1)
    drop = np.ones(z.shape[::2], dtype=bool)
    drop[np.arange(z.shape[0]), best] = False
    z[:, 1, :][drop] = np.nan
    return z


@pytest.mark.slow
@pytest.mark.parametrize("test", ["dunnett", "bonferroni", "simes", "sidak"])
@pytest.mark.parametrize("null", ["global", "partial"])
def test_closed_test_with_selection_controls_the_familywise_error(test, null):
    n, alpha, looks = 20_000, 0.025, [0.5, 1.0]
    allocation = [1, 1, 1, 1]
    rng = np.random.default_rng(17 if null == "global" else 19)
    # stage-wise z: each stage has its own patients, so the stages are independent
    z = np.stack([_shared_control_paths(rng, n, [1.0], allocation)[:, 0, :] for _ in looks], axis=1)
    drift = np.array([0.0, 0.0, 0.0] if null == "global" else [2.5, 0.0, 0.0])
    z = z + drift * np.sqrt(0.5)
    z = _select_best_after_look_one(z)
    bounds = group_sequential_boundaries(looks, alpha).efficacy_z
    result = closed_combination_test(
        z, bounds, inverse_normal_weights(looks), test, allocation=allocation
    )
    true_nulls = drift == 0.0
    fwer = np.mean(result.rejected[:, -1, :][:, true_nulls].any(axis=1))
    assert fwer <= alpha + 4 * np.sqrt(alpha * (1 - alpha) / n)


def test_closed_dunnett_test_takes_well_under_a_second_for_a_thousand_trials():
    z = np.random.default_rng(2).normal(size=(1000, 3, 3))
    start = time.perf_counter()
    closed_combination_test(
        z, [3.7, 2.5, 2.0], inverse_normal_weights([1 / 3, 2 / 3, 1]), "dunnett",
        allocation=[1, 1, 1, 1],
    )  # fmt: skip
    assert time.perf_counter() - start < 2.0


# ----------------------------------------------------------------- single analysis


def test_holm_and_hochberg_equal_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(8).uniform(0, 0.06, size=(40, 4))
    for ours, theirs in ((holm, "holm"), (hochberg, "simes-hochberg")):
        expected = np.array([multitest.multipletests(row, 0.05, method=theirs)[0] for row in p])
        np.testing.assert_array_equal(ours(p, 0.05), expected)


def test_holm_is_the_closed_test_with_bonferroni_intersections():
    z = np.random.default_rng(9).normal(1.5, 1.0, size=(600, 3))
    closed = closed_combination_test(z[:, None, :], [-ndtri(0.025)], [1.0], "bonferroni")
    np.testing.assert_array_equal(holm(ndtr(-z), 0.025), closed.rejected[:, 0, :])


def test_closed_simes_is_hommels_procedure_and_rejects_at_least_what_hochberg_does():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    z = np.random.default_rng(10).normal(1.8, 1.0, size=(120, 3))
    simes = multiplicity_rejections(z, 0.025, "simes")
    p = ndtr(-z)
    hommel = np.array([multitest.multipletests(row, 0.025, method="hommel")[0] for row in p])
    np.testing.assert_array_equal(simes, hommel)
    assert np.all(simes >= hochberg(p, 0.025))


def test_single_step_dunnett_rejects_exactly_above_the_dunnett_critical_value():
    c = dunnett_group_sequential_bounds([1.0], 0.025, many_to_one_correlation([1, 1, 1]),
                                        efficacy="none").efficacy_z[0]  # fmt: skip
    z = np.array([[c + 1e-6, c - 1e-6], [3.0, np.nan]])
    rejected = multiplicity_rejections(z, 0.025, "dunnett", allocation=[1, 1, 1])
    assert rejected.tolist() == [[True, False], [True, False]]


def test_bonferroni_counts_only_the_arms_tested():
    z = -ndtri(np.array([[0.02, np.nan]]))  # one arm tested: no adjustment
    assert multiplicity_rejections(z, 0.025, "bonferroni").tolist() == [[True, False]]


def test_unknown_multiplicity_method_lists_the_choices():
    with pytest.raises(CstrialError, match="bonferroni, dunnett, holm, hochberg, simes"):
        multiplicity_rejections(np.zeros((1, 2)), 0.025, "tukey")


def test_every_intersection_test_is_named_in_the_public_list():
    assert set(INTERSECTION_TESTS) == {"bonferroni", "simes", "sidak", "dunnett",
                                       "spiessens-debois"}  # fmt: skip
