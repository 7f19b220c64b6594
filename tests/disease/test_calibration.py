"""The disease model reproduces published cardiogenic-shock mortality (../shared/calibration.md).

Each target keeps its published value, its source and the tolerance calibration.md
states for it; one check walks the table (STYLE.md, reference cases as data).
"""

import numpy as np
import pytest

from cstrial.disease import (
    DISEASE,
    baseline_shift,
    inverse_timing,
    linear_predictor,
    risk_by,
    timing_fraction,
)
from cstrial.disease.calibration import stage_intercepts
from cstrial.disease.parameters import STAGE_TARGETS_AMI_30D
from cstrial.population import sample_population

N = 1_000_000


@pytest.fixture(scope="module")
def cohort():
    patients = sample_population(np.random.default_rng(20261121), N)
    risk = risk_by(np.exp(linear_predictor(patients)))
    return patients, risk


def _odds(p):
    return p / (1 - p)


def _ami_30d(patients, risk):
    return risk[patients["etiology"] == 0].mean()


def _ami_stage(stage):
    return lambda patients, risk: risk[
        (patients["etiology"] == 0) & (patients["scai_stage"] == stage)
    ].mean()


def _or_hf_vs_ami(patients, risk):
    return _odds(risk[patients["etiology"] == 1].mean()) / _odds(
        risk[patients["etiology"] == 0].mean()
    )


def _hf_30d(patients, risk):
    return risk[patients["etiology"] == 1].mean()


def _risk_at(patients, day):
    return risk_by(np.exp(linear_predictor(patients)) * timing_fraction(day))


def _il6_gap_90d(patients, risk):
    above = patients["il6_pg_ml"] > np.median(patients["il6_pg_ml"])
    risk_90 = _risk_at(patients, 90.0)
    return risk_90[above].mean() - risk_90[~above].mean()


def _il6_above_median_90d(patients, risk):
    return _risk_at(patients, 90.0)[patients["il6_pg_ml"] > np.median(patients["il6_pg_ml"])].mean()


def _il6_below_median_90d(patients, risk):
    return _risk_at(patients, 90.0)[
        patients["il6_pg_ml"] <= np.median(patients["il6_pg_ml"])
    ].mean()


def _ami_phenotype(code):
    return lambda patients, risk: risk[
        (patients["etiology"] == 0) & (patients["phenotype"] == code)
    ].mean()


def _ami_180d_increment(patients, risk):
    ami = patients["etiology"] == 0
    return _risk_at(patients, 180.0)[ami].mean() - risk[ami].mean()


def _death_share_by(day):
    def share(patients, risk):
        h30 = np.exp(linear_predictor(patients))
        return risk_by(h30 * timing_fraction(day)).mean() / risk.mean()

    return share


# name, statistic, published value, (low, high) band, source
TARGETS = [
    (
        "IABP-SHOCK II control 30-d death",
        _ami_30d,
        0.413,
        (0.413 - 0.057, 0.413 + 0.057),
        "Thiele NEJM 2012: 123/298; calibration.md target 1 (+-5.7 pp)",
    ),
    (
        "CULPRIT-SHOCK culprit-only 30-d death",
        _ami_30d,
        0.433,
        (0.433 - 0.053, 0.433 + 0.053),
        "Thiele NEJM 2017; calibration.md target 2 (+-5.3 pp)",
    ),
    (
        "AMI-CS SCAI C 30-d death",
        _ami_stage(0),
        0.27,
        (0.26, 0.28),
        "calibration.md second-pass update",
    ),
    (
        "AMI-CS SCAI D 30-d death",
        _ami_stage(1),
        0.50,
        (0.49, 0.51),
        "calibration.md second-pass update",
    ),
    (
        "AMI-CS SCAI E 30-d death",
        _ami_stage(2),
        0.75,
        (0.74, 0.76),
        "calibration.md second-pass update",
    ),
    (
        "OR of death, HF vs AMI",
        _or_hf_vs_ami,
        0.51,
        (0.4, 0.7),
        "CSWG 26% vs 41% (Thayer 2020); calibration.md target 7",
    ),
    ("HF-CS death", _hf_30d, 0.26, (0.239 - 0.05, 0.26 + 0.05), "CSWG HF 26%; single-centre 23.9%"),
    (
        "IL-6 above vs below median, 90-d death gap",
        _il6_gap_90d,
        0.35,
        (0.20, 0.50),
        "CardShock 57% vs 22% (Kataja 2021); calibration.md target 6: gap in 20-50 pp",
    ),
    (
        "IL-6 above median, 90-d death",
        _il6_above_median_90d,
        0.57,
        (0.47, 0.67),
        "CardShock 57% (Kataja 2021); calibration.md target 6: +-10 pp",
    ),
    (
        "IL-6 below median, 90-d death",
        _il6_below_median_90d,
        0.22,
        (0.12, 0.32),
        "CardShock 22% (Kataja 2021); calibration.md target 6: +-10 pp",
    ),
    (
        "AMI-CS non-congested phenotype death",
        _ami_phenotype(0),
        0.21,
        (0.13, 0.29),
        "CSWG-MI 21% (Zweck 2021); calibration.md target 8: +-8 pp",
    ),
    (
        "AMI-CS cardiorenal phenotype death",
        _ami_phenotype(1),
        0.45,
        (0.37, 0.53),
        "CSWG-MI 45% (Zweck 2021); calibration.md target 8: +-8 pp",
    ),
    (
        "AMI-CS cardiometabolic phenotype death",
        _ami_phenotype(2),
        0.55,
        (0.47, 0.63),
        "CSWG-MI 55% (Zweck 2021); calibration.md target 8: +-8 pp",
    ),
    (
        "AMI-CS death from day 30 to 180",
        _ami_180d_increment,
        0.071,
        (0.05, 0.10),
        "SHOCK 56.0% -> 63.1% at 6 months (Hochman 1999); CULPRIT-SHOCK +6.7 pp to 1 year",
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
    value = statistic(*cohort)
    assert band[0] <= value <= band[1], (
        f"{name}: model {value:.3f}, published {published} ({source})"
    )


def test_stage_intercepts_are_the_calibrated_values():
    """Re-running the calibration reproduces the stored intercepts (a drift fails CI)."""
    patients = sample_population(np.random.default_rng(12345), 2_000_000)
    ami = patients["etiology"] == 0
    fitted = stage_intercepts({k: v[ami] for k, v in patients.items()}, STAGE_TARGETS_AMI_30D)
    stored = {
        "C": DISEASE["log_h30_scai_c"],
        "D": DISEASE["log_h30_scai_d"],
        "E": DISEASE["log_h30_scai_e"],
    }
    for stage in "CDE":
        assert fitted[stage] == pytest.approx(stored[stage], abs=0.01)


def test_baseline_shift_hits_the_target_mortality():
    eta = linear_predictor(sample_population(np.random.default_rng(3), 100_000))
    for target in (0.2, 0.45, 0.7):
        shift = baseline_shift(eta, target)
        assert risk_by(np.exp(eta + shift)).mean() == pytest.approx(target, abs=1e-8)


def test_death_risk_rises_with_il6_lactate_age_and_arrest(cohort):
    patients, _ = cohort
    base = {k: v[:1].copy() for k, v in patients.items()}
    eta0 = linear_predictor(base)[0]
    for name, value in (
        ("il6_pg_ml", base["il6_pg_ml"] * 2),
        ("lactate_mmol_l", base["lactate_mmol_l"] * 2),
        ("age", base["age"] + 10),
        ("cardiac_arrest", np.array([True])),
    ):
        changed = {**base, name: value}
        if name == "cardiac_arrest":
            changed["comatose_after_arrest"] = np.array([False])
            base_eta = linear_predictor(
                {
                    **base,
                    "cardiac_arrest": np.array([False]),
                    "comatose_after_arrest": np.array([False]),
                }
            )[0]
        else:
            base_eta = eta0
        assert linear_predictor(changed)[0] > base_eta, name


def test_timing_fraction_runs_from_zero_to_one_at_day_30_and_grows_to_180():
    assert timing_fraction(0.0) == 0.0
    assert timing_fraction(30.0) == pytest.approx(1.0)
    days = np.linspace(0, 180, 361)
    assert np.all(np.diff(timing_fraction(days)) > 0)


def test_inverse_timing_inverts_the_baseline_shape():
    days = np.array([0.01, 0.5, 2.0, 7.0, 29.9, 30.0, 45.0, 179.0])
    np.testing.assert_allclose(inverse_timing(timing_fraction(days)), days, rtol=1e-9)
    assert np.isinf(inverse_timing(timing_fraction(180.0) + 1e-6))
