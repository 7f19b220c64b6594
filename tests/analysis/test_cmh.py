"""The CMH z equals statsmodels' StratifiedTable test; the MH risk difference its formula.

References:
* chi-square: statsmodels.stats.contingency_tables.StratifiedTable(tables)
  .test_null_odds(correction=False).statistic, which is z^2;
* the Mantel–Haenszel risk difference written out from Greenland & Robins 1985
  (Biometrics 41:55, weights n_t n_c / N), by a loop over strata.
"""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import StratifiedTable

from cstrial.analysis import two_proportion_z
from cstrial.analysis.cmh import cmh_z
from cstrial.errors import CstrialError

# Each stratum is (events on treatment, n treatment, events on control, n control).
# The tables are those of R's mantelhaen.test examples as used in statsmodels' test
# suite (statsmodels/stats/tests/test_contingency_tables.py, TestStratified1-3, where
# correction=True reproduces R's "Mantel-Haenszel X-squared" 3.9286, 11.8852, 1.3368).
# `chi_square` was printed by statsmodels 0.15.0:
#   StratifiedTable(tables).test_null_odds(correction=False).statistic
# with tables[:, :, k] = [[e_t, n_t - e_t], [e_c, n_c - e_c]].
CASES = [
    {
        # R datasets: Rabbits <- array(c(0,0,6,5, 3,0,3,6, 6,2,0,4, 5,6,1,0, 2,5,0,0),
        #   dim = c(2,2,5), dimnames = list(Delay = c("None","1.5h"),
        #   Response = c("Cured","Died"), Penicillin.Level = ...)); mantelhaen.test(Rabbits)
        # treatment = immediate injection (Delay "None"), event = died
        "name": "penicillin and rabbits (R mantelhaen.test)",
        "strata": [(6, 6, 5, 5), (3, 6, 6, 6), (0, 6, 4, 6), (1, 6, 0, 6), (0, 2, 0, 5)],
        "chi_square": 5.6571428571428575,
        # hand-computed from Greenland & Robins: sum (a n_c - c n_t)/N = -3,
        # sum n_t n_c / N = 30/11 + 9 + 10/7 = 1013/77
        "risk_difference": -231 / 1013,
    },
    {
        # data = array(c(20,14,10,24, 15,12,3,15, 3,2,3,2, 12,3,7,5, 1,0,3,2), dim=c(2,2,5))
        # rows of each R table are the arms, its first column the event
        "name": "statsmodels TestStratified2 (R mantelhaen.test)",
        "strata": [(20, 30, 14, 38), (15, 18, 12, 27), (3, 6, 2, 4), (12, 19, 3, 8), (1, 4, 0, 2)],
        "chi_square": 13.046583362216202,
    },
    {
        # data = array(c(313,512,19,89, 207,353,8,17, 205,120,391,202, 278,139,244,131,
        #                138,53,299,94, 351,22,317,24), dim=c(2,2,6))
        "name": "statsmodels TestStratified3 (R mantelhaen.test)",
        "strata": [
            (313, 332, 512, 601),
            (207, 215, 353, 370),
            (205, 596, 120, 322),
            (278, 522, 139, 270),
            (138, 437, 53, 147),
            (351, 668, 22, 46),
        ],
        "chi_square": 1.4313062481220369,
    },
]


def patients(strata):
    """One replicate (1, n) of events, treated and stratum codes from per-stratum counts."""
    events, treated, codes = [], [], []
    for k, (e_t, n_t, e_c, n_c) in enumerate(strata):
        for e, n, arm in ((e_t, n_t, True), (e_c, n_c, False)):
            events += [True] * e + [False] * (n - e)
            treated += [arm] * n
            codes += [k] * n
    return np.array([events]), np.array([treated]), np.array([codes])


def tables(strata):
    return np.array(
        [[[e_t, n_t - e_t], [e_c, n_c - e_c]] for e_t, n_t, e_c, n_c in strata], float
    ).transpose(1, 2, 0)


def mantel_haenszel_risk_difference(strata):
    """Greenland & Robins 1985: sum (a n_c - c n_t) / N over sum n_t n_c / N."""
    numerator = denominator = 0.0
    for e_t, n_t, e_c, n_c in strata:
        total = n_t + n_c
        if total == 0:
            continue
        numerator += (e_t * n_c - e_c * n_t) / total
        denominator += n_t * n_c / total
    return numerator / denominator


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_statsmodels_and_the_greenland_robins_formula(case):
    z, rd = cmh_z(*patients(case["strata"]))
    assert z[0] ** 2 == pytest.approx(case["chi_square"], rel=1e-10)
    live = StratifiedTable(tables(case["strata"])).test_null_odds(correction=False)
    assert z[0] ** 2 == pytest.approx(live.statistic, rel=1e-10)
    assert rd[0] == pytest.approx(mantel_haenszel_risk_difference(case["strata"]), rel=1e-12)
    if "risk_difference" in case:
        assert rd[0] == pytest.approx(case["risk_difference"], rel=1e-12)


def test_positive_z_means_fewer_events_on_treatment():
    # R's mantelhaen.test help: "some evidence for higher cure rate of immediate injection"
    z, rd = cmh_z(*patients(CASES[0]["strata"]))
    assert z[0] > 0 and rd[0] < 0
    events, treated, codes = patients(CASES[0]["strata"])
    z_swapped, rd_swapped = cmh_z(events, ~treated, codes)
    assert z_swapped[0] == pytest.approx(-z[0]) and rd_swapped[0] == pytest.approx(-rd[0])


def test_one_stratum_is_the_two_proportion_z_with_the_hypergeometric_variance():
    # CMH uses N − 1 where the pooled z uses N: z_cmh = z_pooled * sqrt((N − 1) / N)
    strata = [(30, 100, 45, 110)]
    z, rd = cmh_z(*patients(strata))
    z_pooled, estimate = two_proportion_z(np.array(45), np.array(110), np.array(30), np.array(100))
    assert z[0] == pytest.approx(z_pooled * np.sqrt(209 / 210), rel=1e-12)
    assert rd[0] == pytest.approx(estimate, rel=1e-12)


def random_trials(rng, n_reps=20, n_patients=150):
    shape = (n_reps, n_patients)
    strata = rng.integers(0, 4, shape)
    treated = rng.random(shape) < 0.5
    events = rng.random(shape) < 0.15 + 0.1 * strata - 0.05 * treated
    include = rng.random(shape) < 0.85
    return events, treated, strata, include


def test_vectorised_equals_row_by_row_and_statsmodels():
    events, treated, strata, include = random_trials(np.random.default_rng(21))
    z, rd = cmh_z(events, treated, strata, include)
    for r in range(events.shape[0]):
        z_r, rd_r = cmh_z(
            events[r : r + 1], treated[r : r + 1], strata[r : r + 1], include[r : r + 1]
        )
        assert (z[r], rd[r]) == pytest.approx((z_r[0], rd_r[0]), rel=1e-14)
        counts = []
        for k in range(4):
            m = include[r] & (strata[r] == k)
            counts.append(
                (
                    (events[r] & m & treated[r]).sum(),
                    (m & treated[r]).sum(),
                    (events[r] & m & ~treated[r]).sum(),
                    (m & ~treated[r]).sum(),
                )
            )
        reference = StratifiedTable(tables(counts)).test_null_odds(correction=False)
        assert z[r] ** 2 == pytest.approx(reference.statistic, rel=1e-10)
        assert rd[r] == pytest.approx(mantel_haenszel_risk_difference(counts), rel=1e-12)


def test_stratum_codes_are_labels_only():
    events, treated, strata, include = random_trials(np.random.default_rng(22))
    relabelled = np.array([-5, 7, 100, 3])[strata]
    np.testing.assert_allclose(  # only the order of summation over strata changes
        cmh_z(events, treated, strata, include),
        cmh_z(events, treated, relabelled, include),
        rtol=1e-13,
    )


def test_strata_without_both_arms_change_nothing():
    base = [(10, 40, 16, 42), (8, 30, 9, 28)]
    padded = [*base, (3, 5, 0, 0), (0, 0, 2, 2), (1, 1, 0, 0)]
    np.testing.assert_allclose(cmh_z(*patients(padded)), cmh_z(*patients(base)), rtol=1e-14)


def test_no_evidence_gives_zero_z():
    events = np.zeros((2, 6), bool)
    treated = np.array([[True, False] * 3, [True] * 6])
    z, rd = cmh_z(events, treated, np.zeros((2, 6), int))
    np.testing.assert_array_equal(z, 0.0)
    assert rd[0] == 0.0 and np.isnan(rd[1])  # replicate 1 has no control patient


def test_rejects_non_integer_strata_with_a_remedy():
    with pytest.raises(CstrialError, match="return_inverse"):
        cmh_z(np.zeros((1, 4), bool), np.ones((1, 4), bool), np.zeros((1, 4)))
