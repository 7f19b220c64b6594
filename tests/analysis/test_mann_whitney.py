"""The Mann–Whitney z and probabilistic index equal scipy's asymptotic test (the reference)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, norm

from cstrial.analysis.mann_whitney import mann_whitney_z
from cstrial.errors import CstrialError

# Each expected value was printed by scipy 1.17.1:
#   mannwhitneyu(treatment, control, method="asymptotic", use_continuity=False,
#                alternative="greater" if higher_is_better else "less")
# `u` is its statistic (U of the treatment arm: pairs with X_t > X_c, plus half the ties).
SCIPY = "scipy.stats.mannwhitneyu(asymptotic, use_continuity=False)"
CASES = [
    {
        "name": "no ties",
        "treatment": [1.2, 3.4, 5.6, 7.8, 2.2],
        "control": [0.5, 1.1, 2.3, 4.4],
        "higher_is_better": True,
        "u": 15.0,
        "p_value": 0.11033568095992347,
    },
    {
        "name": "ordinal outcome, heavy ties",
        "treatment": [0, 1, 1, 2, 2, 2, 3, 3, 1, 0, 2, 3],
        "control": [0, 0, 1, 1, 1, 2, 2, 0, 1, 3],
        "higher_is_better": True,
        "u": 78.5,
        "p_value": 0.10315259898268703,
    },
    {
        "name": "lower is better (e.g. days on vasopressors)",
        "treatment": [3, 5, 5, 7, 2, 9, 4],
        "control": [6, 8, 5, 10, 7, 12, 5, 9],
        "higher_is_better": False,
        "u": 11.0,
        "p_value": 0.023362105966686263,
    },
    {
        "name": "ties across arms",
        "treatment": [10, 20, 20, 30, 30, 30, 40],
        "control": [20, 30, 30, 50, 10],
        "higher_is_better": True,
        "u": 16.5,
        "p_value": 0.5674947417689294,
    },
]


def one_trial(treatment, control):
    """A single replicate (1, n) with the control patients first."""
    values = np.array([*control, *treatment], dtype=float)[None, :]
    treated = np.array([False] * len(control) + [True] * len(treatment))[None, :]
    return values, treated


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_scipy_asymptotic_without_continuity_correction(case):
    values, treated = one_trial(case["treatment"], case["control"])
    z, index = mann_whitney_z(values, treated, higher_is_better=case["higher_is_better"])
    pairs = len(case["treatment"]) * len(case["control"])
    share_higher = case["u"] / pairs
    expected_index = share_higher if case["higher_is_better"] else 1.0 - share_higher
    assert norm.sf(z[0]) == pytest.approx(case["p_value"], abs=1e-10), SCIPY
    assert index[0] == pytest.approx(expected_index, abs=1e-12), SCIPY


def random_trials(rng, n_reps=25, n_patients=60, levels=6):
    values = rng.integers(0, levels, (n_reps, n_patients)).astype(float)
    treated = rng.random((n_reps, n_patients)) < 0.5
    include = rng.random((n_reps, n_patients)) < 0.8
    return values, treated, include


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_vectorised_equals_row_by_row_and_scipy(higher_is_better):
    values, treated, include = random_trials(np.random.default_rng(11))
    z, index = mann_whitney_z(values, treated, include, higher_is_better)
    alternative = "greater" if higher_is_better else "less"
    for r in range(values.shape[0]):
        z_r, index_r = mann_whitney_z(
            values[r : r + 1], treated[r : r + 1], include[r : r + 1], higher_is_better
        )
        assert (z[r], index[r]) == (z_r[0], index_r[0])
        x_t = values[r, treated[r] & include[r]]
        x_c = values[r, ~treated[r] & include[r]]
        reference = mannwhitneyu(
            x_t, x_c, method="asymptotic", use_continuity=False, alternative=alternative
        )
        assert norm.sf(z[r]) == pytest.approx(reference.pvalue, abs=1e-10)


def test_index_is_share_of_pairs_won_by_treatment_plus_half_the_ties():
    values, treated, include = random_trials(np.random.default_rng(5), n_reps=5)
    _, index = mann_whitney_z(values, treated, include)
    for r in range(5):
        x_t = values[r, treated[r] & include[r]][:, None]
        x_c = values[r, ~treated[r] & include[r]][None, :]
        assert index[r] == pytest.approx(np.mean((x_t > x_c) + 0.5 * (x_t == x_c)), abs=1e-12)


def test_positive_z_and_index_above_half_mean_treatment_does_better():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(200, 80))
    treated = rng.random((200, 80)) < 0.5
    z, index = mann_whitney_z(values + 0.8 * treated, treated)
    assert (z > 0).mean() > 0.95
    np.testing.assert_array_equal(z > 0, index > 0.5)
    z_low, index_low = mann_whitney_z(values + 0.8 * treated, treated, higher_is_better=False)
    np.testing.assert_allclose(z_low, -z, atol=1e-12)
    np.testing.assert_allclose(index_low, 1.0 - index, atol=1e-12)


def test_excluded_patients_do_not_count():
    values, treated, include = random_trials(np.random.default_rng(3))
    scrambled = np.where(include, values, 1e9)  # whatever the excluded had
    np.testing.assert_array_equal(
        mann_whitney_z(values, treated, include), mann_whitney_z(scrambled, treated, include)
    )
    excluded_nan = np.where(include, values, np.nan)
    np.testing.assert_array_equal(
        mann_whitney_z(values, treated, include)[0],
        mann_whitney_z(excluded_nan, treated, include)[0],
    )


def test_no_evidence_gives_zero_z():
    values = np.ones((2, 6))
    treated = np.array([[True] * 3 + [False] * 3, [True] * 6])
    z, index = mann_whitney_z(values, treated)
    np.testing.assert_array_equal(z, 0.0)
    assert index[0] == 0.5  # every pair tied
    assert np.isnan(index[1])  # no control patient


def test_rejects_bad_input_with_a_remedy():
    with pytest.raises(CstrialError, match=r"values\[None, :\]"):
        mann_whitney_z(np.ones(5), np.ones(5, bool))
    with pytest.raises(CstrialError, match="NaN"):
        mann_whitney_z(np.array([[1.0, np.nan]]), np.array([[True, False]]))
    with pytest.raises(CstrialError, match="shape"):
        mann_whitney_z(np.ones((2, 5)), np.ones((2, 4), bool))
