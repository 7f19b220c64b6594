"""The binary counts of every look at once (prefix counts) equal the per-look analysis exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cstrial.design.accrual import DAYS_PER_MONTH, enrolment_months
from cstrial.endpoints import TrialCourse, analyse, outcome_at
from cstrial.endpoints.prefix import followed_prefixes, two_proportion_by_look


class _Binary:
    type = "binary"
    analysis = "two-proportion"

    def __init__(self, horizon_days: float) -> None:
        self.horizon_days = horizon_days


def _trial(rng, replicates, n, n_arms, dropout, per_month, ramp):
    death = np.where(
        rng.random((replicates, n)) < 0.6, rng.exponential(40.0, (replicates, n)), np.inf
    )
    dropout_day = (
        rng.exponential(60.0, (replicates, n)) if dropout else np.full((replicates, n), np.inf)
    )
    return TrialCourse(
        arms=rng.integers(0, n_arms, (replicates, n)).astype(np.int8),
        death_day=death,
        dropout_day=dropout_day,
        enrolment_months=enrolment_months(n, per_month, ramp),
        patients={},
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    replicates=st.integers(1, 7),
    n=st.integers(1, 90),
    n_arms=st.integers(2, 4),
    dropout=st.booleans(),
    per_month=st.floats(1.0, 50.0),
    ramp=st.sampled_from([0.0, 2.0]),
    horizon=st.sampled_from([1.0, 28.0, 30.0, 90.0]),
    fractions=st.lists(st.floats(0.0, 1.3), min_size=1, max_size=4),
)
def test_prefix_counts_equal_the_per_look_analysis(
    seed, replicates, n, n_arms, dropout, per_month, ramp, horizon, fractions
):
    rng = np.random.default_rng(seed)
    trial = _trial(rng, replicates, n, n_arms, dropout, per_month, ramp)
    last = trial.enrolment_months[-1] + horizon / DAYS_PER_MONTH
    # looks anywhere from before the first patient is followed up to after the last
    months = np.sort(np.asarray(fractions) * last)
    # and exactly at a patient's own follow-up, where the 1e-9 tolerance matters
    months = np.append(months, trial.enrolment_months[n // 2] + horizon / DAYS_PER_MONTH)
    prefixes = followed_prefixes(trial.enrolment_months, months, horizon)
    assert prefixes is not None
    endpoint = _Binary(horizon)
    for arm in range(1, n_arms):
        fast = two_proportion_by_look(trial, horizon, arm, prefixes)
        for k, month in enumerate(months):
            outcome = outcome_at(endpoint, trial, np.full(replicates, month))
            slow = analyse(endpoint, outcome, trial, arm)
            for field in ("n_control", "n_treatment", "events_control", "events_treatment"):
                got, want = getattr(fast[k], field), getattr(slow, field)
                assert got.dtype == want.dtype and np.array_equal(got, want), field
            # the same bits, not merely close: the outputs are compared byte for byte
            assert fast[k].z.tobytes() == slow.z.tobytes()
            assert fast[k].estimate.tobytes() == slow.estimate.tobytes()


def test_followed_prefixes_counts_the_patients_followed_to_the_horizon():
    months = enrolment_months(100, 10.0)  # patient i enrolled at month i / 10
    looks = np.array([3.0, 5.0]) + 30.0 / DAYS_PER_MONTH
    assert followed_prefixes(months, looks, 30.0) == (30, 50)


def test_followed_prefixes_refuses_patients_not_enrolled_in_order():
    months = np.array([0.0, 2.0, 1.0])
    assert followed_prefixes(months, np.array([1.5]), 0.0) is None


@pytest.mark.parametrize("n_looks", [1, 3])
def test_shipped_binary_designs_take_the_prefix_path(n_looks):
    # the engine uses prefix counts for binary two-proportion primaries at fixed looks
    from cstrial.engine.plan import plan_scenario
    from cstrial.engine.simulate import _binary_prefixes
    from cstrial.protocol import load_protocol
    from cstrial.protocol.scenarios import expand_scenarios

    protocol = load_protocol("protocols/toci-amics.yaml")
    plan = plan_scenario(expand_scenarios(protocol)[0], 1)
    assert _binary_prefixes(plan) == tuple(plan.look_patients)
