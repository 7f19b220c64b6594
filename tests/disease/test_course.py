"""Organ support and hospital stay: published incidences, competing death, days out of hospital."""

import numpy as np
import pytest

from cstrial.disease import late_log_ratio, linear_predictor
from cstrial.disease.course import days_alive_out_of_hospital, simulate_course
from cstrial.population import sample_population
from cstrial.treatment import hazard_course


@pytest.fixture(scope="module")
def ami_course():
    patients = sample_population(np.random.default_rng(31), 600_000)
    ami = patients["etiology"] == 0
    patients = {k: v[ami] for k, v in patients.items()}
    rng = np.random.default_rng(32)
    eta = linear_predictor(patients)
    h30, late = np.exp(eta), late_log_ratio(patients, eta)
    death = hazard_course(None, h30, patients["il6_pg_ml"], 365.0, late=late).death_time(
        rng.standard_exponential(h30.size), 365.0
    )
    return patients, death, simulate_course(rng, patients, death)


def test_rrt_incidence_matches_danish_mi_cs(ami_course):
    # Lauridsen 2015 (Crit Care 19:452): 13% of MI-CS patients received RRT
    _, _, course = ami_course
    assert np.isfinite(course.rrt_day).mean() == pytest.approx(0.13, abs=0.01)


def test_rrt_patients_die_more_often(ami_course):
    # Lauridsen 2015: in-hospital mortality 62% with vs 36% without RRT (adjusted RR 1.70)
    _, death, course = ami_course
    rrt = np.isfinite(course.rrt_day)
    with_rrt, without = (death[rrt] <= 30).mean(), (death[~rrt] <= 30).mean()
    assert 1.4 <= with_rrt / without <= 2.0


def test_events_happen_only_before_death_and_by_day_30(ami_course):
    _, death, course = ami_course
    for day in (course.rrt_day, course.mcs_escalation_day):
        happened = np.isfinite(day)
        assert np.all(day[happened] <= 30) and np.all(day[happened] < death[happened])


def test_the_dead_are_not_discharged(ami_course):
    _, death, course = ami_course
    discharged = np.isfinite(course.hospital_discharge_day)
    assert np.all(course.hospital_discharge_day[discharged] < death[discharged])
    assert np.all(course.icu_discharge_day[discharged] <= course.hospital_discharge_day[discharged])


def test_days_alive_out_of_hospital_is_zero_for_deaths_by_day_30():
    death = np.array([5.0, 40.0, np.inf, np.inf])
    discharge = np.array([np.inf, 12.0, 10.5, 45.0])
    np.testing.assert_array_equal(
        days_alive_out_of_hospital(death, discharge), [0.0, 18.0, 19.5, 0.0]
    )


def test_a_lower_death_hazard_lowers_organ_support(ami_course):
    patients, death, _ = ami_course
    rng = np.random.default_rng(33)
    control = simulate_course(rng, patients, death)
    rng = np.random.default_rng(33)
    treated = simulate_course(rng, patients, death, hazard_ratio_30d=0.7)
    assert np.isfinite(treated.rrt_day).mean() < np.isfinite(control.rrt_day).mean()
