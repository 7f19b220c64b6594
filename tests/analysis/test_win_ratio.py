"""The win ratio: pair counts against published and brute-force references, and a valid z.

References used here:
* explicit-solution cases from BuyseTest's own test suite (generalised pairwise
  comparisons, the same counts as Pocock's unmatched win ratio);
* a brute-force double loop over treatment × control pairs;
* the Finkelstein–Schoenfeld score test written out naively (loops over all
  pairs), and its null variance checked against the exact permutation
  distribution, enumerated;
* the Wilcoxon rank-sum test (scipy), which F–S reduces to when the hierarchy is
  a plain lexicographic order;
* the type I error of z >= 1.96 under the null, by simulation.
"""

from __future__ import annotations

import importlib
import itertools
import tracemalloc

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, norm, rankdata

from cstrial.analysis.win_ratio import WinRatioResult, win_ratio
from cstrial.errors import CstrialError

# the module itself (cstrial.analysis exports the function under the same name)
win_ratio_module = importlib.import_module("cstrial.analysis.win_ratio")

NAN = float("nan")
F, T = False, True

# Cases with explicit solutions from BuyseTest's test suite,
# github.com/bozenne/BuyseTest tests/testthat/test-BuyseTest-Pairs.R @07a2199f.
# BuyseTest counts favorable / unfavorable / neutral / uninformative pairs per
# endpoint; here wins = all favorable, losses = all unfavorable, ties = neutral +
# uninformative at the last endpoint. BuyseTest's treatment arm is the second level.
BUYSETEST = "BuyseTest tests/testthat/test-BuyseTest-Pairs.R"
PUBLISHED_CASES = [
    {
        # dt <- data.table(Treatment = c(1,1,2,2), toxicity1 = 0, toxicity2 = c(1,0,1,0))
        # BuyseTest(Treatment ~ bin(toxicity1) + bin(toxicity2), data = dt)
        # count_favorable c(0,1), count_unfavorable c(0,1), count_neutral c(4,2)
        "name": "check mixed - 2 Binary",
        "treated": [F, F, T, T],
        "components": [([0, 0, 0, 0], True, 0.0), ([1, 0, 1, 0], True, 0.0)],
        "wins": 1,
        "losses": 1,
        "ties": 2,
        "net_benefit": 0.0,
    },
    {
        # dt <- data.table(Treatment = 1:2, toxicity1 = 0, toxicity2 = c(1,0), Id = 1:10)
        # BuyseTest(Treatment ~ bin(toxicity1) + bin(toxicity2), data = dt)
        # count_unfavorable c(0,25), count_neutral c(25,0), Delta$netChance c(0,-1)
        "name": "check unfavorable - 2 Binary",
        "treated": [F, T] * 5,
        "components": [([0] * 10, True, 0.0), ([1, 0] * 5, True, 0.0)],
        "wins": 0,
        "losses": 25,
        "ties": 0,
        "net_benefit": -1.0,
    },
    {
        # data <- data.frame(toxicity1 = c(NA, 1, 1), Treatment = c(1, 1, 0))
        # BuyseTest(Treatment ~ bin(toxicity1), data = data)
        # count_neutral 1, count_uninf 1
        "name": "check NA - 1 Binary",
        "treated": [T, T, F],
        "components": [([NAN, 1, 1], True, 0.0)],
        "wins": 0,
        "losses": 0,
        "ties": 2,
        "net_benefit": 0.0,
    },
    {
        # data <- data.frame(size = c(NA, 1, 1), Treatment = c(1, 1, 0)); data2 <- rbind(data, data)
        # BuyseTest(Treatment ~ continuous(size, threshold = 0), data = data2)
        # count_neutral 4, count_uninf 4
        "name": "check NA - continuous",
        "treated": [T, T, F, T, T, F],
        "components": [([NAN, 1, 1, NAN, 1, 1], True, 0.0)],
        "wins": 0,
        "losses": 0,
        "ties": 8,
        "net_benefit": 0.0,
    },
    {
        # data <- data.frame(size = c(1,0), Treatment = c(1,0)); data2 <- rbind(data, data)
        # BuyseTest(Treatment ~ continuous(size, threshold = 2), data = data2)
        # count_neutral 4 (a difference within the threshold is a tie)
        "name": "check neutral - continuous, non 0 threshold",
        "treated": [T, F, T, F],
        "components": [([1, 0, 1, 0], True, 2.0)],
        "wins": 0,
        "losses": 0,
        "ties": 4,
        "net_benefit": 0.0,
    },
    {
        # Hand-computed (this file): death first (lower is better), then days alive out of
        # hospital (higher is better, NaN once dead). Treatment A alive 20 d, B alive 5 d,
        # C dead; control D alive 12 d, E dead.
        # A–D win (20 > 12), A–E win (death), B–D loss (5 < 12), B–E win (death),
        # C–D loss (death), C–E tie (both dead, days not assessable).
        "name": "hand-computed: death, then days alive out of hospital",
        "treated": [T, T, T, F, F],
        "components": [([0, 0, 1, 0, 1], False, 0.0), ([20, 5, NAN, 12, NAN], True, 0.0)],
        "wins": 3,
        "losses": 2,
        "ties": 1,
        "net_benefit": 1 / 6,
    },
]


def as_trial(case):
    """The case as arrays with one replicate: (components, treated)."""
    components = [(np.array(v, float)[None, :], h, t) for v, h, t in case["components"]]
    return components, np.array(case["treated"])[None, :]


@pytest.mark.parametrize("case", PUBLISHED_CASES, ids=[c["name"] for c in PUBLISHED_CASES])
def test_pair_counts_match_published_cases(case):
    components, treated = as_trial(case)
    result = win_ratio(components, treated)
    counts = (result.wins[0], result.losses[0], result.ties[0])
    assert counts == (case["wins"], case["losses"], case["ties"]), case["name"]
    assert result.net_benefit[0] == pytest.approx(case["net_benefit"], abs=1e-15)


def test_summaries_follow_from_the_counts():
    components, treated = as_trial(PUBLISHED_CASES[-1])
    result = win_ratio(components, treated)
    assert result.win_ratio[0] == pytest.approx(3 / 2)
    assert result.win_odds[0] == pytest.approx((3 + 0.5) / (2 + 0.5))
    no_losses = win_ratio([(np.array([[1.0, 0.0]]), True, 0.0)], np.array([[T, F]]))
    assert no_losses.win_ratio[0] == np.inf
    assert isinstance(no_losses, WinRatioResult)


# ---- brute force ---------------------------------------------------------------------


def pair_score(components, r, i, j):
    """+1 if patient i beats j, −1 if j beats i, 0 if tied on every component."""
    for values, higher_is_better, threshold in components:
        a, b = values[r, i], values[r, j]
        if np.isnan(a) or np.isnan(b):
            continue
        better, worse = (a, b) if higher_is_better else (b, a)
        if better > worse + threshold:
            return 1
        if worse > better + threshold:
            return -1
    return 0


def brute_force(components, treated, include, r):
    """Counts, F–S z and the exact permutation variance of T for replicate r, by loops."""
    patients = [i for i in range(treated.shape[1]) if include[r, i]]
    wins = losses = ties = 0
    for i in patients:
        for j in patients:
            if treated[r, i] and not treated[r, j]:
                s = pair_score(components, r, i, j)
                wins += s == 1
                losses += s == -1
                ties += s == 0
    scores = {i: sum(pair_score(components, r, i, j) for j in patients) for i in patients}
    n_t = sum(bool(treated[r, i]) for i in patients)
    n = len(patients)
    statistic = sum(scores[i] for i in patients if treated[r, i])
    variance = n_t * (n - n_t) / (n * (n - 1)) * sum(u * u for u in scores.values())
    z = statistic / np.sqrt(variance) if variance > 0 else 0.0
    return wins, losses, ties, statistic, variance, z, list(scores.values()), n_t


def mixed_trials(rng, n_reps, n_patients, effect=0.0):
    """Death (lower better), days out of hospital (NaN if dead), a score with threshold 0.5."""
    treated = rng.random((n_reps, n_patients)) < 0.5
    death = (rng.random((n_reps, n_patients)) < 0.35 - effect * treated).astype(float)
    days = rng.integers(0, 30, (n_reps, n_patients)).astype(float) + 3 * effect * treated
    days[death == 1] = np.nan
    score = rng.normal(size=(n_reps, n_patients)).round(1) + effect * treated
    components = [(death, False, 0.0), (days, True, 0.0), (score, True, 0.5)]
    return components, treated


def test_counts_and_z_equal_brute_force_with_nan_thresholds_and_exclusions():
    rng = np.random.default_rng(7)
    components, treated = mixed_trials(rng, n_reps=12, n_patients=14)
    include = rng.random(treated.shape) < 0.85
    result = win_ratio(components, treated, include)
    for r in range(treated.shape[0]):
        wins, losses, ties, statistic, _, z, _, _ = brute_force(components, treated, include, r)
        assert (result.wins[r], result.losses[r], result.ties[r]) == (wins, losses, ties)
        assert statistic == wins - losses  # F–S T is wins − losses
        assert result.z[r] == pytest.approx(z, abs=1e-12)


def test_finkelstein_schoenfeld_variance_is_the_exact_permutation_variance():
    # var(T) over all C(N, n_t) re-allocations of the arms, enumerated
    rng = np.random.default_rng(8)
    components, treated = mixed_trials(rng, n_reps=4, n_patients=11)
    include = np.ones(treated.shape, bool)
    for r in range(4):
        _, _, _, _, variance, _, scores, n_t = brute_force(components, treated, include, r)
        totals = [sum(c) for c in itertools.combinations(scores, n_t)]
        assert np.var(totals) == pytest.approx(variance, rel=1e-12)
        assert np.mean(totals) == pytest.approx(0.0, abs=1e-12)


def test_single_component_z_is_the_wilcoxon_rank_sum_z():
    # F–S on one component is the Wilcoxon test: scipy.stats.mannwhitneyu(x_t, x_c,
    # method="asymptotic", use_continuity=False, alternative="greater")
    rng = np.random.default_rng(9)
    values = rng.integers(0, 8, (10, 50)).astype(float)
    treated = rng.random((10, 50)) < 0.5
    result = win_ratio([(values, True, 0.0)], treated)
    for r in range(10):
        reference = mannwhitneyu(
            values[r, treated[r]],
            values[r, ~treated[r]],
            method="asymptotic",
            use_continuity=False,
            alternative="greater",
        )
        assert norm.sf(result.z[r]) == pytest.approx(reference.pvalue, abs=1e-10)
        pairs = treated[r].sum() * (~treated[r]).sum()
        assert (result.wins[r] + result.ties[r] / 2) / pairs == pytest.approx(
            reference.statistic / pairs, abs=1e-12
        )


def test_lexicographic_hierarchy_z_is_wilcoxon_on_lexicographic_ranks():
    rng = np.random.default_rng(10)
    death = (rng.random((8, 40)) < 0.3).astype(float)
    grade = rng.integers(0, 4, (8, 40)).astype(float)
    treated = rng.random((8, 40)) < 0.5
    result = win_ratio([(death, False, 0.0), (grade, True, 0.0)], treated)
    for r in range(8):
        ranks = rankdata(-death[r] * 10 + grade[r])  # death dominates grade
        reference = mannwhitneyu(
            ranks[treated[r]],
            ranks[~treated[r]],
            method="asymptotic",
            use_continuity=False,
            alternative="greater",
        )
        assert norm.sf(result.z[r]) == pytest.approx(reference.pvalue, abs=1e-10)


def test_sort_route_equals_pairwise_route_including_nan_after_death():
    rng = np.random.default_rng(12)
    treated = rng.random((15, 60)) < 0.5
    include = rng.random((15, 60)) < 0.9
    death = (rng.random((15, 60)) < 0.3).astype(float)
    days = np.where(death == 1, np.nan, rng.integers(0, 5, (15, 60)).astype(float))
    levels = [(-death, 0.0), (days, 0.0), (rng.normal(size=(15, 60)).round(1), 0.0)]
    _, _, _, ordered = win_ratio_module._lexicographic_statistics(
        [np.where(include, v, np.nan) for v, _ in levels], treated & include, include & ~treated
    )
    assert ordered.all()  # days are missing exactly for the dead, who tie on death
    by_sort = win_ratio_module._win_ratio(levels, treated, include, pairwise=False)
    by_pairs = win_ratio_module._win_ratio(levels, treated, include, pairwise=True)
    for field in ("wins", "losses", "ties", "z", "win_ratio", "win_odds", "net_benefit"):
        np.testing.assert_allclose(getattr(by_sort, field), getattr(by_pairs, field), rtol=1e-13)


def test_replicates_where_nan_meets_a_value_fall_back_to_pairs():
    rng = np.random.default_rng(23)
    treated = rng.random((12, 30)) < 0.5
    include = np.ones((12, 30), bool)
    death = (rng.random((12, 30)) < 0.3).astype(float)
    days = np.where(death == 1, np.nan, rng.integers(0, 5, (12, 30)).astype(float))
    days[::3, 0] = np.nan  # a survivor not assessed: ties with every other survivor
    death[::3, 0] = 0.0
    levels = [(-death, 0.0), (days, 0.0)]
    _, _, _, ordered = win_ratio_module._lexicographic_statistics(
        [v for v, _ in levels], treated, ~treated
    )
    np.testing.assert_array_equal(ordered, np.arange(12) % 3 != 0)
    by_default = win_ratio([(death, False, 0.0), (days, True, 0.0)], treated)
    components = [(death, False, 0.0), (days, True, 0.0)]
    for r in range(12):
        wins, losses, ties, _, _, z, _, _ = brute_force(components, treated, include, r)
        assert (by_default.wins[r], by_default.losses[r], by_default.ties[r]) == (
            wins,
            losses,
            ties,
        )
        assert by_default.z[r] == pytest.approx(z, abs=1e-12)


def test_vectorised_equals_row_by_row():
    rng = np.random.default_rng(13)
    components, treated = mixed_trials(rng, n_reps=9, n_patients=40, effect=0.1)
    include = rng.random(treated.shape) < 0.9
    result = win_ratio(components, treated, include)
    for r in range(9):
        row = win_ratio(
            [(v[r : r + 1], h, t) for v, h, t in components], treated[r : r + 1], include[r : r + 1]
        )
        for field in ("wins", "losses", "ties", "z", "win_ratio"):
            assert getattr(result, field)[r] == getattr(row, field)[0]


def test_blocks_of_replicates_give_the_same_result(monkeypatch):
    rng = np.random.default_rng(14)
    components, treated = mixed_trials(rng, n_reps=10, n_patients=30)
    whole = win_ratio(components, treated)
    # 3 replicates per block: blocks of 3, 3, 3 and 1
    monkeypatch.setattr(win_ratio_module, "_BLOCK_BYTES", 3 * 4 * 30 * 30)
    blocked = win_ratio(components, treated)
    for field in ("wins", "losses", "ties", "z"):
        np.testing.assert_array_equal(getattr(whole, field), getattr(blocked, field))


def test_excluded_patients_do_not_count():
    rng = np.random.default_rng(15)
    components, treated = mixed_trials(rng, n_reps=5, n_patients=30)
    include = rng.random(treated.shape) < 0.7
    scrambled = [(np.where(include, v, -99.0), h, t) for v, h, t in components]
    a = win_ratio(components, treated, include)
    b = win_ratio(scrambled, treated, include)
    for field in ("wins", "losses", "ties", "z"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_positive_z_and_ratio_above_one_mean_treatment_does_better():
    components, treated = mixed_trials(np.random.default_rng(16), 300, 100, effect=0.15)
    result = win_ratio(components, treated)
    assert (result.z > 0).mean() > 0.8
    np.testing.assert_array_equal(result.z > 0, result.win_ratio > 1)
    np.testing.assert_array_equal(result.z > 0, result.net_benefit > 0)


def test_no_evidence_gives_zero_z():
    values = np.ones((2, 4))
    treated = np.array([[T, T, F, F], [T, T, T, T]])
    result = win_ratio([(values, True, 0.0)], treated)
    np.testing.assert_array_equal(result.z, 0.0)
    assert result.ties[0] == 4 and np.isnan(result.win_ratio[0])
    assert result.wins[1] == result.losses[1] == result.ties[1] == 0


def test_peak_memory_of_the_pairwise_route_is_bounded():
    # R = 140 at n = 600 spans two blocks; the peak does not grow with R beyond that
    rng = np.random.default_rng(17)
    components, treated = mixed_trials(rng, n_reps=140, n_patients=600)
    tracemalloc.start()
    win_ratio(components, treated)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 300 * 2**20


def null_rejection_rate(n_reps, seed):
    components, treated = mixed_trials(np.random.default_rng(seed), n_reps, 100)
    return (win_ratio(components, treated).z >= 1.96).mean()


def within_four_se(rate, n_reps, alpha=0.025):
    return abs(rate - alpha) <= 4 * np.sqrt(alpha * (1 - alpha) / n_reps)


def test_type_one_error_is_alpha_under_null_quick():
    assert within_four_se(null_rejection_rate(2_000, seed=18), 2_000)


@pytest.mark.slow
def test_type_one_error_is_alpha_under_null():
    assert within_four_se(null_rejection_rate(20_000, seed=19), 20_000)


def test_rejects_bad_components_with_a_remedy():
    treated = np.array([[T, F]])
    with pytest.raises(CstrialError, match="at least one"):
        win_ratio([], treated)
    with pytest.raises(CstrialError, match=r"components\[0\] must be a tuple"):
        win_ratio([np.ones((1, 2))], treated)
    with pytest.raises(CstrialError, match="threshold must be >= 0"):
        win_ratio([(np.ones((1, 2)), True, -1.0)], treated)
    with pytest.raises(CstrialError, match=r"components\[1\] values must have the shape"):
        win_ratio([(np.ones((1, 2)), True, 0.0), (np.ones((1, 3)), True, 0.0)], treated)
