"""The pooled two-proportion z equals statsmodels' proportions_ztest (the reference)."""

import numpy as np
import pytest
from statsmodels.stats.proportion import proportions_ztest

from cstrial.analysis import two_proportion_z

# events_control, n_control, events_treatment, n_treatment
CASES = [(123, 298, 119, 300), (50, 100, 30, 100), (10, 40, 18, 35), (300, 1000, 260, 1000)]


@pytest.mark.parametrize(("e_c", "n_c", "e_t", "n_t"), CASES)
def test_matches_statsmodels_pooled_z(e_c, n_c, e_t, n_t):
    z, estimate = two_proportion_z(np.array(e_c), np.array(n_c), np.array(e_t), np.array(n_t))
    reference, _ = proportions_ztest([e_c, e_t], [n_c, n_t], alternative="larger")
    assert z == pytest.approx(reference, rel=1e-12)
    assert estimate == pytest.approx(e_t / n_t - e_c / n_c)


def test_positive_z_means_fewer_deaths_on_treatment():
    z, _ = two_proportion_z(np.array(40), np.array(100), np.array(30), np.array(100))
    assert z > 0


def test_no_events_is_no_evidence():
    z, estimate = two_proportion_z(np.zeros(3), np.full(3, 10), np.zeros(3), np.full(3, 10))
    np.testing.assert_array_equal(z, 0.0)
    np.testing.assert_array_equal(estimate, 0.0)


def test_vectorised_over_replicates_and_looks():
    rng = np.random.default_rng(1)
    e_c = rng.integers(0, 50, (7, 3))
    e_t = rng.integers(0, 50, (7, 3))
    z, _ = two_proportion_z(e_c, np.full((7, 3), 100), e_t, np.full((7, 3), 100))
    for i in range(7):
        for k in range(3):
            reference, _ = proportions_ztest(
                [e_c[i, k], e_t[i, k]], [100, 100], alternative="larger"
            )
            assert z[i, k] == pytest.approx(reference, rel=1e-12)
