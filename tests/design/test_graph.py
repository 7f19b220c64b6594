"""Graphical testing (Bretz et al. 2009; Maurer & Bretz 2013) against hand-derived decisions.

Each case of GRAPH_CASES is data: a graph from Bretz, Maurer, Brannath & Posch (2009),
p-values, and the rejections worked out by hand with their Algorithm 1 (the working is
in the comment). Holm and fixed-sequence testing are also checked against their closed
forms on random p-values.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

from cstrial.design import group_sequential_boundaries
from cstrial.design.graph import (
    check_graph,
    fixed_sequence_graph,
    graph_rejections,
    holm_graph,
)
from cstrial.design.multiplicity import holm
from cstrial.errors import CstrialError

ALPHA = 0.025

# Bretz et al. (2009), Figure 6 type: two primaries H1, H2 (Holm between them), each
# with its own secondary (H3 after H1, H4 after H2); a secondary passes its level to
# the other primary.
GATEKEEPING = dict(
    weights=[0.5, 0.5, 0.0, 0.0],
    transitions=[[0, 0.5, 0.5, 0], [0.5, 0, 0, 0.5], [0, 1, 0, 0], [1, 0, 0, 0]],
)
# Fallback (Wiens 2003) as a graph, Bretz et al. (2009) Figure 3: H1 → H2 → H3.
FALLBACK = dict(weights=[0.5, 0.3, 0.2], transitions=[[0, 1, 0], [0, 0, 1], [0, 0, 0]])

GRAPH_CASES = [
    {
        "id": "gatekeeping-primary-only",
        # H1: 0.01 <= 0.5α = 0.0125, rejected; then w2 = 0.5 + 0.5·0.5 = 0.75, w3 = 0.25.
        # H2: 0.04 > 0.75α = 0.01875; H3: 0.01 > 0.25α = 0.00625; H4 has weight 0. Stop.
        **GATEKEEPING,
        "p": [0.01, 0.04, 0.01, 0.5],
        "rejected": [True, False, False, False],
    },
    {
        "id": "gatekeeping-both-primaries-then-a-secondary",
        # H1 rejected as above (w2 = 0.75, w3 = 0.25; updated g23 = 0.25/0.75 = 1/3,
        # g24 = 0.5/0.75 = 2/3). H2: 0.015 <= 0.01875, rejected: w3 = 0.25 + 0.75/3 = 0.5,
        # w4 = 0.75·2/3 = 0.5. H3: 0.01 <= 0.0125, rejected; H4: 0.5 > 0.5α... H3 passes
        # its 0.5 to H4 (g34 is now 1): H4 at α = 0.025, 0.5 still too large.
        **GATEKEEPING,
        "p": [0.01, 0.015, 0.01, 0.5],
        "rejected": [True, True, True, False],
    },
    {
        "id": "gatekeeping-secondary-passes-back-to-its-primary",
        # H1: 0.001 rejected (w2 = 0.75, w3 = 0.25). H3: 0.006 <= 0.00625, rejected; it
        # passes everything to H2 (g32 = 1): w2 = 1. H2: 0.3 > α. H4 still 0: its
        # primary H2 was not rejected, so it cannot be, whatever its p-value.
        **GATEKEEPING,
        "p": [0.001, 0.3, 0.006, 0.0001],
        "rejected": [True, False, True, False],
    },
    {
        "id": "fallback-H1-fails-H2-on-its-own-share",
        # H1: 0.02 > 0.5α = 0.0125. H2: 0.007 <= 0.3α = 0.0075, rejected: w3 = 0.2 + 0.3.
        # H3: 0.012 <= 0.5α = 0.0125, rejected. H1 unchanged (no edge into it).
        **FALLBACK,
        "p": [0.02, 0.007, 0.012],
        "rejected": [False, True, True],
    },
    {
        "id": "fallback-H1-carries-H2",
        # H1: 0.01 <= 0.0125, rejected: w2 = 0.3 + 0.5 = 0.8. H2: 0.019 <= 0.02, rejected:
        # w3 = 0.2 + 0.8 = 1. H3: 0.024 <= 0.025, rejected.
        **FALLBACK,
        "p": [0.01, 0.019, 0.024],
        "rejected": [True, True, True],
    },
    {
        "id": "fallback-H3-alone",
        # H1: 0.2, H2: 0.2 fail; H3: 0.005 <= 0.2α = 0.005, rejected on its own weight.
        **FALLBACK,
        "p": [0.2, 0.2, 0.005],
        "rejected": [False, False, True],
    },
]


@pytest.mark.parametrize("case", GRAPH_CASES, ids=[c["id"] for c in GRAPH_CASES])
def test_graph_rejects_what_bretz_et_al_algorithm_gives_by_hand(case):
    z = -ndtri(np.array([case["p"]]))
    result = graph_rejections(z, case["weights"], case["transitions"], ALPHA)
    assert result.rejected[0].tolist() == case["rejected"]
    assert np.all(result.look[0][result.rejected[0]] == 0)


def test_all_cases_in_one_call_give_the_same_answers():
    cases = [c for c in GRAPH_CASES if c["weights"] == GATEKEEPING["weights"]]
    z = -ndtri(np.array([c["p"] for c in cases]))
    result = graph_rejections(z, **GATEKEEPING, alpha=ALPHA)
    assert result.rejected.tolist() == [c["rejected"] for c in cases]


@pytest.mark.parametrize("m", [2, 3, 4])
def test_holm_as_a_graph_is_holms_procedure(m):
    p = np.random.default_rng(m).uniform(0, 0.05, size=(3000, m))
    w, g = holm_graph(m)
    result = graph_rejections(-ndtri(p), w, g, ALPHA)
    np.testing.assert_array_equal(result.rejected, holm(p, ALPHA))


def test_fixed_sequence_as_a_graph_rejects_up_to_the_first_failure():
    p = np.random.default_rng(4).uniform(0, 0.05, size=(3000, 4))
    w, g = fixed_sequence_graph(4)
    result = graph_rejections(-ndtri(p), w, g, ALPHA)
    expected = np.logical_and.accumulate(p <= ALPHA, axis=1)
    np.testing.assert_array_equal(result.rejected, expected)


def test_weights_that_sum_above_one_are_refused_with_the_field_path():
    with pytest.raises(
        CstrialError, match=r"endpoints\.testing\.graph\.weights must sum to at most 1, found 1\.2"
    ):
        check_graph([0.6, 0.6], [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    ("weights", "transitions", "message"),
    [
        ([0.5, -0.1], [[0, 1], [1, 0]], r"weights\[1\] must be >= 0, found -0\.1"),
        ([0.5, 0.5], [[0.2, 0.8], [1, 0]], r"transitions\[0\]\[0\] must be 0"),
        ([0.5, 0.5], [[0, 1.5], [1, 0]], r"transitions\[0\] .* must sum to at most 1, found 1\.5"),
        ([0.5, 0.5], [[0, -1], [1, 0]], r"transitions\[0\]\[1\] must be >= 0"),
        ([0.5, 0.5], [[0, 1, 0], [1, 0, 0]], r"must be a 2 x 2 matrix"),
    ],
    ids=["negative-weight", "self-loop", "row-above-one", "negative-edge", "wrong-shape"],
)
def test_bad_graphs_raise_an_error_naming_the_field(weights, transitions, message):
    with pytest.raises(CstrialError, match=message):
        check_graph(weights, transitions)


def test_every_problem_of_a_graph_is_listed_at_once():
    with pytest.raises(CstrialError) as info:
        check_graph([0.7, 0.7], [[0.5, 0.7], [1, 0]])
    assert str(info.value).count("•") == 3


def test_z_with_the_wrong_number_of_hypotheses_is_refused():
    with pytest.raises(CstrialError, match="m = 2 hypotheses"):
        graph_rejections(np.zeros((5, 3)), [0.5, 0.5], [[0, 1], [1, 0]], ALPHA)


# ----------------------------------------------------------------- group-sequential graphs

LOOKS = [0.5, 1.0]


def _bounds(level):
    return group_sequential_boundaries(LOOKS, level).efficacy_z


def test_one_hypothesis_is_the_group_sequential_test():
    b = _bounds(ALPHA)
    z = np.array([[[b[0] + 1e-6]], [[b[0] - 1e-6]], [[b[0] - 1.0]]])
    z = np.concatenate([z, np.array([[[0.0]], [[b[1] + 1e-6]], [[b[1] - 1e-6]]])], axis=1)
    result = graph_rejections(z, [1.0], [[0.0]], ALPHA, looks=LOOKS)
    assert result.rejected[:, 0].tolist() == [True, True, False]
    assert result.look[:, 0].tolist() == [0, 1, -1]


def test_a_rejection_lets_the_next_hypothesis_use_the_bounds_of_its_new_level_at_earlier_looks():
    """Fixed sequence H1 → H2 (Maurer & Bretz 2013): H2 crossed the full-alpha bound at
    look 1 while it still had level 0, and falls below it at look 2. Once H1 is rejected
    at look 2, H2 is tested at level alpha with its look-1 statistic: rejected at look 2."""
    b = _bounds(ALPHA)
    z = np.array([[[0.0, b[0] + 0.1], [b[1] + 0.1, 0.0]]])  # (R, K, m)
    w, g = fixed_sequence_graph(2)
    result = graph_rejections(z, w, g, ALPHA, looks=LOOKS)
    assert result.rejected[0].tolist() == [True, True]
    assert result.look[0].tolist() == [1, 1]


def test_holm_graph_over_looks_uses_half_alpha_bounds_until_one_is_rejected():
    half, full = _bounds(ALPHA / 2), _bounds(ALPHA)
    # look 1: H1 beyond the alpha/2 bound; H2 between the alpha and alpha/2 bounds
    z1 = [half[0] + 0.01, (full[0] + half[0]) / 2]
    z = np.array([[z1, [0.0, 0.0]]])
    w, g = holm_graph(2)
    result = graph_rejections(z, w, g, ALPHA, looks=LOOKS)
    assert result.look[0].tolist() == [0, 0]
    # without H1's rejection H2 is not rejected: its statistic is below the alpha/2 bound
    z[0, 0, 0] = 0.0
    assert graph_rejections(z, w, g, ALPHA, looks=LOOKS).rejected[0].tolist() == [False, False]


def test_group_sequential_z_needs_the_looks():
    with pytest.raises(CstrialError, match="give looks"):
        graph_rejections(np.zeros((2, 2, 2)), [0.5, 0.5], [[0, 1], [1, 0]], ALPHA)


@pytest.mark.slow
def test_group_sequential_gatekeeping_controls_the_familywise_error_under_the_global_null():
    n = 20_000
    rng = np.random.default_rng(23)
    t = np.array(LOOKS)
    # primaries correlated 0.5 (shared control), each secondary 0.6 with its primary
    corr = np.array(
        [[1, 0.5, 0.6, 0.3], [0.5, 1, 0.3, 0.6], [0.6, 0.3, 1, 0.18], [0.3, 0.6, 0.18, 1]]
    )
    chol = np.linalg.cholesky(corr)
    increments = rng.standard_normal((n, t.size, 4)) @ chol.T
    increments *= np.sqrt(np.diff(t, prepend=0.0))[None, :, None]
    z = np.cumsum(increments, axis=1) / np.sqrt(t)[None, :, None]
    result = graph_rejections(z, **GATEKEEPING, alpha=ALPHA, looks=LOOKS)
    fwer = result.rejected.any(axis=1).mean()
    assert fwer <= ALPHA + 4 * np.sqrt(ALPHA * (1 - ALPHA) / n)
    assert fwer > ALPHA / 2  # and the procedure is not trivially conservative


def test_single_stage_rejection_is_p_at_most_weight_times_alpha():
    p = np.array([[0.0125, 0.0126]])
    w, g = [0.5, 0.5], [[0, 0], [0, 0]]  # weighted Bonferroni, no propagation
    result = graph_rejections(-ndtri(p), w, g, ALPHA)
    assert result.rejected[0].tolist() == [True, False]
    assert ndtr(ndtri(0.0125)) == pytest.approx(0.0125)
