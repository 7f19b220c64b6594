"""Infection harms: excess infections at (r - 1) x the baseline sepsis hazard, deadlier afterwards."""

import numpy as np
import pytest

from cstrial.disease import linear_predictor
from cstrial.population import sample_population
from cstrial.treatment import hazard_course
from cstrial.treatment.harms import HARMS, death_day_with_infection, excess_infection_day


@pytest.fixture(scope="module")
def arm():
    patients = sample_population(np.random.default_rng(41), 200_000)
    h30 = np.exp(linear_predictor(patients))
    course = hazard_course(None, h30, patients["il6_pg_ml"], 30.0)
    exposure = np.random.default_rng(42).standard_exponential(h30.size)
    return course, exposure, course.death_time(exposure, 180.0)


def test_excess_infections_follow_the_hazard_ratio():
    # r = 2 doubles the sepsis hazard: excess 30-day incidence 1 - (1 - 0.205) = 0.205
    days = excess_infection_day(np.random.default_rng(1), 400_000, 2.0)
    incidence = np.isfinite(days).mean()
    assert incidence == pytest.approx(
        HARMS["sepsis_30d_incidence"], abs=4 * np.sqrt(0.205 * 0.795 / 4e5)
    )
    assert np.nanmax(np.where(np.isfinite(days), days, np.nan)) <= 30


def test_an_infection_before_death_brings_death_forward(arm):
    course, exposure, death = arm
    infection = excess_infection_day(np.random.default_rng(2), death.size, 3.0)
    after = death_day_with_infection(course, exposure, death, infection, 180.0)
    assert np.all(after <= death)
    hit = infection < death
    assert np.any(after[hit] < death[hit])
    np.testing.assert_array_equal(after[~hit], death[~hit])  # the rest are untouched
    # death is still after the infection that hastened it
    assert np.all(after[hit] >= infection[hit])


def test_harm_raises_mortality(arm):
    course, exposure, death = arm
    infection = excess_infection_day(np.random.default_rng(3), death.size, 1.5)
    after = death_day_with_infection(course, exposure, death, infection, 180.0)
    assert (after <= 30).mean() > (death <= 30).mean()


def test_no_harm_draws_nothing(arm):
    course, exposure, death = arm
    never = np.full(death.size, np.inf)
    np.testing.assert_array_equal(
        death_day_with_infection(course, exposure, death, never, 180.0), death
    )
