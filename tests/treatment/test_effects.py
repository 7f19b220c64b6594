"""Effect models do to each patient's risk exactly what their definitions say."""

import numpy as np
import pytest
from pydantic import TypeAdapter

from cstrial.disease import linear_predictor
from cstrial.population import sample_population
from cstrial.protocol.effects import Effect
from cstrial.treatment import hazard_course


def _effect(**fields):
    """A protocol effect, validated as the YAML's would be (None fields left out)."""
    return TypeAdapter(Effect).validate_python({k: v for k, v in fields.items() if v is not None})


@pytest.fixture(scope="module")
def patients():
    p = sample_population(np.random.default_rng(11), 50_000)
    return p, np.exp(linear_predictor(p))


def _risk(effect, patients, horizon=30.0):
    p, h30 = patients
    return hazard_course(effect, h30, p["il6_pg_ml"], horizon).risk(horizon)


def test_risk_ratio_multiplies_each_patients_risk(patients):
    control = _risk(None, patients)
    treated = _risk(_effect(model="risk-ratio", value=0.85), patients)
    np.testing.assert_allclose(treated, 0.85 * control, rtol=1e-10)


def test_odds_ratio_multiplies_each_patients_odds(patients):
    control = _risk(None, patients)
    treated = _risk(_effect(model="odds-ratio", value=0.75), patients)
    expected_odds = 0.75 * control / (1 - control)
    np.testing.assert_allclose(treated, expected_odds / (1 + expected_odds), rtol=1e-12)


def test_hazard_ratio_acts_on_the_cumulative_hazard(patients):
    # S_T(t) = S_C(t)^HR under proportional hazards
    control = _risk(None, patients, 14.0)
    treated = _risk(_effect(model="hazard-ratio", value=0.8), patients, 14.0)
    np.testing.assert_allclose(-np.log1p(-treated), 0.8 * -np.log1p(-control), rtol=1e-9)


def test_il6_mediated_benefit_grows_with_baseline_il6(patients):
    p, _ = patients
    control = _risk(None, patients)
    treated = _risk(_effect(model="il6-mediated", blockade=0.7, delay_hours=0.0), patients)
    log_rr = np.log(treated / control)
    quartile = np.digitize(p["il6_pg_ml"], np.quantile(p["il6_pg_ml"], [0.25, 0.5, 0.75]))
    by_quartile = [log_rr[quartile == q].mean() for q in range(4)]
    assert by_quartile[0] == pytest.approx(0.0)  # below the median: no effect
    assert by_quartile[1] == pytest.approx(0.0)
    assert by_quartile[2] < 0
    assert by_quartile[3] < by_quartile[2]


def test_zero_blockade_is_no_effect(patients):
    control = _risk(None, patients)
    treated = _risk(_effect(model="il6-mediated", blockade=0.0, delay_hours=6.0), patients)
    np.testing.assert_allclose(treated, control, rtol=1e-14)


def test_treatment_delay_costs_benefit(patients):
    early = _risk(_effect(model="il6-mediated", blockade=0.7, delay_hours=0.0), patients).mean()
    late = _risk(_effect(model="il6-mediated", blockade=0.7, delay_hours=24.0), patients).mean()
    control = _risk(None, patients).mean()
    assert early < late < control


@pytest.mark.parametrize(
    "effect",
    [
        None,
        _effect(model="hazard-ratio", value=0.7),
        _effect(model="il6-mediated", blockade=0.8, delay_hours=12.0),
    ],
)
def test_death_time_inverts_the_cumulative_hazard(patients, effect):
    p, h30 = patients
    course = hazard_course(effect, h30, p["il6_pg_ml"], 30.0)
    exposure = np.random.default_rng(0).standard_exponential(h30.size)
    days = course.death_time(exposure, 30.0)
    died = np.isfinite(days)
    # died by day 30 exactly when the unit exponential falls below H(30)
    np.testing.assert_array_equal(died, exposure < course.cumulative_hazard(30.0))
    h_at_death = np.array(
        [
            course.cumulative_hazard(d)[i]
            for i, d in zip(np.flatnonzero(died)[:200], days[died][:200], strict=True)
        ]
    )
    np.testing.assert_allclose(h_at_death, exposure[died][:200], rtol=1e-9)


def _pkpd(**fields):
    """A pkpd effect with blockade 0.7 from 6 hours; each drug's own regimen defaults."""
    return _effect(**{"model": "pkpd", "blockade": 0.7, "delay_hours": 6.0, **fields})


def test_pkpd_benefit_rises_with_baseline_il6(patients):
    p, _ = patients
    control = _risk(None, patients, 90.0)
    treated = _risk(_pkpd(drug="tocilizumab", dose_mg_per_kg=8.0), patients, 90.0)
    high = p["il6_pg_ml"] > np.quantile(p["il6_pg_ml"], 0.75)
    low = p["il6_pg_ml"] < np.quantile(p["il6_pg_ml"], 0.25)
    assert np.mean(treated[high] / control[high]) < np.mean(treated[low] / control[low]) == 1.0


def test_pkpd_at_full_occupancy_matches_il6_mediated(patients):
    # 8 mg/kg keeps IL-6 receptors near-saturated through day 30 (occupancy >= 0.98)
    pkpd = _risk(_pkpd(drug="tocilizumab", dose_mg_per_kg=8.0), patients).mean()
    constant = _risk(_effect(model="il6-mediated", blockade=0.7, delay_hours=6.0), patients).mean()
    assert pkpd == pytest.approx(constant, rel=0.005)


def test_lower_dose_and_later_start_cost_benefit(patients):
    control = _risk(None, patients, 180.0).mean()
    high = _risk(_pkpd(drug="tocilizumab", dose_mg_per_kg=8.0), patients, 180.0).mean()
    low = _risk(_pkpd(drug="tocilizumab", dose_mg_per_kg=4.0), patients, 180.0).mean()
    late = _risk(
        _pkpd(drug="tocilizumab", dose_mg_per_kg=8.0, delay_hours=48.0), patients, 180.0
    ).mean()
    assert high < low < control
    assert high < late < control


def test_anakinra_acts_upstream_with_partial_blockade(patients):
    # assumption (docs/model.md): IL-1 blockade reduces IL-6 signalling by at most half
    control = _risk(None, patients).mean()
    anakinra = _risk(_pkpd(drug="anakinra", dose_mg=100.0), patients).mean()
    tocilizumab = _risk(_pkpd(drug="tocilizumab", dose_mg_per_kg=8.0), patients).mean()
    assert tocilizumab < anakinra < control


@pytest.mark.parametrize("model", ["risk-ratio", "odds-ratio"])
def test_a_certain_death_stays_certain_under_ratio_models(model):
    # a patient whose control risk rounds to 1 (huge cumulative hazard) must not become NaN
    h30 = np.array([1e3, 0.5])
    course = hazard_course(_effect(model=model, value=0.8), h30, np.array([100.0, 100.0]), 30.0)
    risk = course.risk(30.0)
    assert np.all(np.isfinite(risk))
    assert risk[0] == pytest.approx(1.0 if model == "odds-ratio" else 0.8)
    days = course.death_time(np.array([0.1, 0.1]), 30.0)
    assert np.isfinite(days[0])


# With the disease model's own late hazard: each patient's factor exp(late_i) after day 30.


@pytest.fixture(scope="module")
def patients_with_late():
    from cstrial.disease import late_log_ratio

    p = sample_population(np.random.default_rng(12), 20_000)
    eta = linear_predictor(p)
    return p, np.exp(eta), late_log_ratio(p, eta)


def _late_course(effect, patients_with_late, horizon):
    p, h30, late = patients_with_late
    return hazard_course(effect, h30, p["il6_pg_ml"], horizon, late=late)


def test_control_course_with_late_factor_is_the_disease_models_cumulative_hazard(
    patients_with_late,
):
    from cstrial.disease import cumulative_hazard

    _, h30, late = patients_with_late
    course = _late_course(None, patients_with_late, 365.0)
    for day in (2.0, 30.0, 90.0, 180.0, 300.0, 365.0):
        np.testing.assert_allclose(
            course.cumulative_hazard(day), cumulative_hazard(h30, day, late), rtol=1e-12
        )


@pytest.mark.parametrize(
    "effect",
    [
        None,
        _effect(model="hazard-ratio", value=0.8),
        _effect(model="risk-ratio", value=0.85),
        _effect(model="il6-mediated", blockade=0.7, delay_hours=6.0),
    ],
    ids=["control", "hazard-ratio", "risk-ratio", "il6-mediated"],
)
def test_death_times_invert_the_cumulative_hazard_with_late_factor(patients_with_late, effect):
    """A patient dies at the day their cumulative hazard reaches their unit exponential."""
    course = _late_course(effect, patients_with_late, 365.0)
    exposure = np.random.default_rng(13).standard_exponential(course.h30.size)
    days = course.death_time(exposure, 365.0)
    died = np.isfinite(days)
    np.testing.assert_allclose(_at(course, days, died), exposure[died], rtol=1e-8)
    assert np.all(exposure[~died] > course.cumulative_hazard(365.0)[~died] * (1 - 1e-12))


def _at(course, days, died):
    return course.subset(np.flatnonzero(died)).cumulative_hazard_at(days[died])


def test_risk_ratio_holds_at_one_year_with_the_late_factor(patients_with_late):
    control = _late_course(None, patients_with_late, 365.0).risk(365.0)
    effect = _effect(model="risk-ratio", value=0.9)
    treated = _late_course(effect, patients_with_late, 365.0).risk(365.0)
    np.testing.assert_allclose(treated, 0.9 * control, rtol=1e-10)


def test_a_late_factor_needs_day_30_among_the_edges():
    from cstrial.treatment import HazardCourse

    with pytest.raises(ValueError, match="day 30"):
        HazardCourse(np.ones(2), np.array([0.0, 365.0]), np.zeros(1), 1.0, np.array([0.1, 0.2]))
