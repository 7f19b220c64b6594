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


def test_ventilation_share_matches_us_nis(ami_course):
    # Vallabhajosyula 2019 (Ann Intensive Care): invasive ventilation in 43% of US AMI-CS
    # (39.2% in 2000 to 46.4% in 2014); the model is calibrated to 45%
    _, _, course = ami_course
    assert np.isfinite(course.ventilation_day).mean() == pytest.approx(0.45, abs=0.01)


def test_ventilated_survivors_are_extubated_after_a_median_4_8_days(ami_course):
    # safety-net CS cohort (N=110 ventilated): extubation after a median 4.8 days
    _, death, course = ami_course
    ventilated = np.isfinite(course.ventilation_day) & (death > 30)
    days = course.ventilation_end_day[ventilated] - course.ventilation_day[ventilated]
    assert np.median(days) == pytest.approx(4.8, abs=0.15)


def test_comatose_patients_after_arrest_are_ventilated(ami_course):
    patients, _, course = ami_course
    comatose = patients["comatose_after_arrest"].astype(bool)
    assert np.isfinite(course.ventilation_day[comatose]).mean() > 0.95


def test_ventilated_patients_die_more_often(ami_course):
    # FRENSHOCK: ventilation HR 1.41 for 30-day death; US NIS: aOR 2.50
    _, death, course = ami_course
    ventilated = np.isfinite(course.ventilation_day)
    ratio = (death[ventilated] <= 30).mean() / (death[~ventilated] <= 30).mean()
    assert 1.41 <= ratio <= 2.5


def test_every_support_ends_by_death_and_icu_supports_by_icu_discharge(ami_course):
    _, death, course = ami_course
    for start, end in course.support_intervals():
        started = np.isfinite(start)
        assert np.all(end[started] >= start[started])
        assert np.all(end[started] <= death[started])
        assert np.all(~np.isfinite(end[~started]))
    icu = course.icu_discharge_day
    assert np.all(
        course.ventilation_day[np.isfinite(course.ventilation_day)]
        < icu[np.isfinite(course.ventilation_day)]
    )
    for start, end in (
        (course.ventilation_day, course.ventilation_end_day),
        (course.mcs_start_day, course.mcs_end_day),
    ):
        in_icu = start < icu  # MCS escalated after ICU discharge is not cut by it
        assert np.all(end[in_icu] <= icu[in_icu])
    # MCS in place at randomisation starts on day 0
    patients, _, _ = ami_course
    assert np.all(course.mcs_start_day[patients["mcs_at_baseline"].astype(bool)] == 0.0)


def test_organ_support_draws_leave_the_callers_stream_where_it_was(ami_course):
    # ventilation and the support durations come from a spawned child stream: the caller's
    # generator advances exactly as it did before they existed, so no seeded output moves
    patients, death, _ = ami_course
    n = death.size
    used = np.random.default_rng(41)
    course = simulate_course(used, patients, death)
    before = np.random.default_rng(41)
    rrt_exposure, mcs_exposure = before.standard_exponential(n), before.standard_exponential(n)
    stay = before.standard_normal((3, n))
    assert used.bit_generator.state == before.bit_generator.state
    assert used.random() == before.random()
    # the earlier events are those of the earlier draws
    sd = 0.6
    vasopressor = 3.0 * np.exp(0.25 * patients["scai_stage"] + sd * stay[0])
    np.testing.assert_allclose(course.vasopressor_days, np.minimum(vasopressor, death))
    assert rrt_exposure.size == mcs_exposure.size == n


def test_a_lower_death_hazard_lowers_ventilation(ami_course):
    patients, death, _ = ami_course
    control = simulate_course(np.random.default_rng(34), patients, death)
    treated = simulate_course(np.random.default_rng(34), patients, death, hazard_ratio_30d=0.7)
    assert np.isfinite(treated.ventilation_day).mean() < np.isfinite(control.ventilation_day).mean()
