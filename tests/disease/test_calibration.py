"""The disease model reproduces published cardiogenic-shock mortality (../shared/calibration.md).

Each target keeps its published value, its source and the tolerance calibration.md
(or the cohort's binomial band) states for it; one check walks the table (STYLE.md,
reference cases as data). The statistics are computed here from the disease model's
public functions, independently of `cstrial.disease.targets`, which `cstrial population`
shows (tests/test_population_command.py holds those).
"""

import numpy as np
import pytest

from cstrial.disease import (
    DISEASE,
    LATE,
    baseline_shift,
    cumulative_hazard,
    inverse_timing,
    late_linear_predictor,
    late_log_ratio,
    linear_predictor,
    risk_by,
    timing_fraction,
)
from cstrial.disease.calibration import (
    CALIBRATION_SAMPLE,
    CALIBRATION_SEED,
    stage_intercepts,
    with_values,
)
from cstrial.disease.parameters import STAGE_TARGETS_AMI_30D
from cstrial.population import sample_population

N = 1_000_000


class Cohort:
    """Patients and their control risks by any day, from the public disease functions."""

    def __init__(self, patients):
        self.p = patients
        eta = linear_predictor(patients)
        self.h30, self.late = np.exp(eta), late_log_ratio(patients, eta)
        self.ami = patients["etiology"] == 0

    def risk(self, day):
        return risk_by(cumulative_hazard(self.h30, day, self.late))


@pytest.fixture(scope="module")
def cohort():
    return Cohort(sample_population(np.random.default_rng(20261121), N))


def _odds(p):
    return p / (1 - p)


def _mean(day, where=lambda c: c.ami):
    return lambda c: c.risk(day)[where(c)].mean()


def _stage(code):
    return lambda c: c.ami & (c.p["scai_stage"] == code)


def _phenotype(code):
    return lambda c: c.ami & (c.p["phenotype"] == code)


def _il6_half(above):
    def where(c):
        high = c.p["il6_pg_ml"] > np.median(c.p["il6_pg_ml"])
        return high if above else ~high

    return where


def _or_hf_vs_ami(c):
    risk = c.risk(30.0)
    return _odds(risk[c.p["etiology"] == 1].mean()) / _odds(risk[c.ami].mean())


def _increment(start, end):
    return lambda c: (c.risk(end) - c.risk(start))[c.ami].mean()


def _arrest_ratio(c):
    risk, arrest = c.risk(30.0), c.p["cardiac_arrest"]
    return risk[c.ami & arrest].mean() / risk[c.ami & ~arrest].mean()


def _death_share_by(day):
    return lambda c: c.risk(day).mean() / c.risk(30.0).mean()


# name, statistic, published value, (low, high) band, source
TARGETS = [
    (
        "IABP-SHOCK II control 30-d death",
        _mean(30.0),
        0.413,
        (0.413 - 0.057, 0.413 + 0.057),
        "Thiele NEJM 2012: 123/298; calibration.md target 1 (+-5.7 pp)",
    ),
    (
        "CULPRIT-SHOCK culprit-only 30-d death",
        _mean(30.0),
        0.433,
        (0.433 - 0.053, 0.433 + 0.053),
        "Thiele NEJM 2017; calibration.md target 2 (+-5.3 pp)",
    ),
    (
        "IABP-SHOCK II control 12-month death",
        _mean(365.0),
        0.51,
        (0.51 - 0.058, 0.51 + 0.058),
        "Thiele Lancet 2013: 152/296; calibration.md target 1",
    ),
    (
        "CULPRIT-SHOCK culprit-only 1-year death",
        _mean(365.0),
        0.50,
        (0.50 - 0.054, 0.50 + 0.054),
        "Thiele NEJM 2018: 172/344; calibration.md target 2",
    ),
    (
        "AMI-CS death from day 30 to 365",
        _increment(30.0, 365.0),
        0.08,
        (0.05, 0.11),
        "trial control arms +6.7 to +10.7 pp (calibration.md §2b; target 2: 5-10 pp)",
    ),
    (
        "AMI-CS death from day 30 to 180",
        _increment(30.0, 180.0),
        0.071,
        (0.036, 0.101),
        "SHOCK +7.1 pp (medical stabilisation) and +3.6 pp (early revascularisation)",
    ),
    (
        "AMI-CS death from day 180 to 365",
        _increment(180.0, 365.0),
        0.033,
        (0.013, 0.053),
        "SHOCK +3.0 and +3.6 pp (calibration.md §2b)",
    ),
    (
        "HF-CS 1-year death",
        _mean(365.0, lambda c: c.p["etiology"] == 1),
        0.426,
        (0.426 - 0.057, 0.426 + 0.057),
        "single-centre registry, 301 HF-CS (PMID 35510546)",
    ),
    (
        "AMI-CS SCAI C 30-d death",
        _mean(30.0, _stage(0)),
        0.27,
        (0.26, 0.28),
        "calibration.md second-pass update",
    ),
    (
        "AMI-CS SCAI D 30-d death",
        _mean(30.0, _stage(1)),
        0.50,
        (0.49, 0.51),
        "calibration.md second-pass update",
    ),
    (
        "AMI-CS SCAI E 30-d death",
        _mean(30.0, _stage(2)),
        0.75,
        (0.74, 0.76),
        "calibration.md second-pass update",
    ),
    (
        "OR of death, HF vs AMI",
        _or_hf_vs_ami,
        0.55,
        (0.4, 0.7),
        "CSWG 26% vs 41% (Thayer 2020); calibration.md target 7",
    ),
    (
        "AMI-CS arrest vs no arrest, 30-d death ratio",
        _arrest_ratio,
        0.82,
        (0.74, 0.90),
        "RETROSHOCK 47% vs 57% (Mieritz)",
    ),
    (
        "IL-6 above median, 90-d death",
        _mean(90.0, _il6_half(True)),
        0.57,
        (0.47, 0.67),
        "CardShock 57% (Kataja 2021); calibration.md target 6: +-10 pp",
    ),
    (
        "IL-6 below median, 90-d death",
        _mean(90.0, _il6_half(False)),
        0.22,
        (0.12, 0.32),
        "CardShock 22% (Kataja 2021); calibration.md target 6: +-10 pp",
    ),
    (
        "AMI-CS non-congested phenotype death",
        _mean(30.0, _phenotype(0)),
        0.21,
        (0.13, 0.29),
        "CSWG-MI 21% (Zweck 2021); calibration.md target 8: +-8 pp",
    ),
    (
        "AMI-CS cardiorenal phenotype death",
        _mean(30.0, _phenotype(1)),
        0.45,
        (0.37, 0.53),
        "CSWG-MI 45% (Zweck 2021); calibration.md target 8: +-8 pp",
    ),
    (
        "AMI-CS cardiometabolic phenotype death",
        _mean(30.0, _phenotype(2)),
        0.55,
        (0.47, 0.63),
        "CSWG-MI 55% (Zweck 2021); calibration.md target 8: +-8 pp",
    ),
    (
        "share of 30-d deaths by day 2",
        _death_share_by(2.0),
        0.44,
        (0.40, 0.48),
        "US NIS AMI-CS timing (Vallabhajosyula 2020): 44%",
    ),
    (
        "share of 30-d deaths by day 7",
        _death_share_by(7.0),
        0.76,
        (0.70, 0.80),
        "US NIS AMI-CS timing: 76%; calibration.md: 70-80% by day 7",
    ),
]


@pytest.mark.parametrize(
    ("name", "statistic", "published", "band", "source"), TARGETS, ids=[t[0] for t in TARGETS]
)
def test_disease_model_reproduces_published_target(
    cohort, name, statistic, published, band, source
):
    value = statistic(cohort)
    assert band[0] <= value <= band[1], (
        f"{name}: model {value:.3f}, published {published} ({source})"
    )


def test_stage_intercepts_are_the_calibrated_values():
    """Re-running the stage fit reproduces the stored intercepts (a drift fails CI)."""
    patients = sample_population(np.random.default_rng(CALIBRATION_SEED), CALIBRATION_SAMPLE)
    ami = patients["etiology"] == 0
    fitted = stage_intercepts({k: v[ami] for k, v in patients.items()}, STAGE_TARGETS_AMI_30D)
    stored = {
        "C": DISEASE["log_h30_scai_c"],
        "D": DISEASE["log_h30_scai_d"],
        "E": DISEASE["log_h30_scai_e"],
    }
    for stage in "CDE":
        assert fitted[stage] == pytest.approx(stored[stage], abs=0.01)


def test_late_acute_reference_is_the_mean_acute_predictor_of_ami_cs(cohort):
    """The centring constant of the late carry-over term is what the fit stored."""
    p = {k: v[cohort.ami] for k, v in cohort.p.items()}
    eta = linear_predictor(p)
    acute = eta - DISEASE["beta_arrest"] * p["cardiac_arrest"]
    acute = acute - DISEASE["beta_comatose"] * p["comatose_after_arrest"]
    assert acute.mean() == pytest.approx(LATE["late_acute_reference"], abs=0.01)


def test_baseline_shift_hits_the_target_mortality():
    eta = linear_predictor(sample_population(np.random.default_rng(3), 100_000))
    for target in (0.2, 0.45, 0.7):
        shift = baseline_shift(eta, target)
        assert risk_by(np.exp(eta + shift)).mean() == pytest.approx(target, abs=1e-8)


def test_baseline_shift_refuses_horizons_beyond_day_30():
    with pytest.raises(ValueError, match="day 30"):
        baseline_shift(np.zeros(3), 0.4, 90.0)


def test_death_risk_rises_with_il6_lactate_crp_age_and_falls_with_lvef(cohort):
    base = {k: v[:1].copy() for k, v in cohort.p.items()}
    eta0 = linear_predictor(base)[0]
    for name, value, direction in (
        ("il6_pg_ml", base["il6_pg_ml"] * 2, 1),
        ("lactate_mmol_l", base["lactate_mmol_l"] * 2, 1),
        ("crp_mg_l", base["crp_mg_l"] * 2, 1),
        ("age", base["age"] + 10, 1),
        ("lvef_pct", base["lvef_pct"] + 10, -1),
    ):
        changed = {**base, name: value}
        assert direction * (linear_predictor(changed)[0] - eta0) > 0, name


def test_resuscitated_patients_who_wake_die_less_and_coma_more(cohort):
    """RETROSHOCK: mortality lower after OHCA than without, most deaths after OHCA neurological."""
    risk, p, ami = cohort.risk(30.0), cohort.p, cohort.ami
    awake = ami & p["cardiac_arrest"] & ~p["comatose_after_arrest"]
    coma = ami & p["comatose_after_arrest"]
    none = ami & ~p["cardiac_arrest"]
    assert risk[awake].mean() < risk[none].mean()
    assert risk[coma].mean() > risk[awake].mean()


def test_late_hazard_ignores_arrest_and_coma_and_carries_part_of_the_acute_risk(cohort):
    base = {k: v[:1].copy() for k, v in cohort.p.items()}
    base["cardiac_arrest"] = np.array([False])
    base["comatose_after_arrest"] = np.array([False])
    eta = linear_predictor(base)
    comatose = {
        **base,
        "cardiac_arrest": np.array([True]),
        "comatose_after_arrest": np.array([True]),
    }
    eta_coma = linear_predictor(comatose)
    assert late_linear_predictor(comatose, eta_coma)[0] == pytest.approx(
        late_linear_predictor(base, eta)[0]
    )
    shifted = late_linear_predictor(base, eta + 1.0)[0] - late_linear_predictor(base, eta)[0]
    assert shifted == pytest.approx(LATE["late_severity_carryover"])


def test_cumulative_hazard_is_proportional_to_day_30_and_late_after():
    h30, late = np.array([0.5, 1.2]), np.array([-1.0, 0.3])
    np.testing.assert_allclose(cumulative_hazard(h30, 30.0, late), h30)
    np.testing.assert_allclose(cumulative_hazard(h30, 7.0, late), h30 * timing_fraction(7.0))
    np.testing.assert_allclose(cumulative_hazard(h30, 365.0, late), h30 * (1 + np.exp(late)))
    # the late hazard steps down by late_hazard_ratio_after_180 at day 180
    before = cumulative_hazard(h30, 180.0, late) - cumulative_hazard(h30, 179.0, late)
    after = cumulative_hazard(h30, 181.0, late) - cumulative_hazard(h30, 180.0, late)
    np.testing.assert_allclose(after / before, LATE["late_hazard_ratio_after_180"])


def test_with_values_replaces_values_and_refuses_unknown_names():
    table = with_values(DISEASE, beta_il6=0.5)
    assert table["beta_il6"] == 0.5 and table["beta_lactate"] == DISEASE["beta_lactate"]
    with pytest.raises(KeyError):
        with_values(DISEASE, no_such_parameter=1.0)


def test_timing_fraction_runs_from_zero_to_one_at_day_30_and_two_at_365():
    assert timing_fraction(0.0) == 0.0
    assert timing_fraction(30.0) == pytest.approx(1.0)
    assert timing_fraction(365.0) == pytest.approx(2.0)
    days = np.linspace(0, 365, 731)
    assert np.all(np.diff(timing_fraction(days)) > 0)


def test_inverse_timing_inverts_the_baseline_shape():
    days = np.array([0.01, 0.5, 2.0, 7.0, 29.9, 30.0, 45.0, 179.0, 180.0, 250.0, 364.0])
    np.testing.assert_allclose(inverse_timing(timing_fraction(days)), days, rtol=1e-9)
    assert np.isinf(inverse_timing(timing_fraction(365.0) + 1e-6))
