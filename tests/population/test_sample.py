"""The default virtual population reproduces the published marginals it is calibrated to.

Targets are rows of ../shared/calibration.md; tolerances are 4 Monte Carlo SE of a
proportion (or a stated band for medians).
"""

import numpy as np
import pytest
from helpers import assert_within_se
from scipy.special import ndtr

from cstrial.population import sample_population
from cstrial.population.sample import _phenotype_cuts, bivariate_normal_cdf, egfr_ckd_epi_2021

N = 400_000


@pytest.fixture(scope="module")
def patients():
    return sample_population(np.random.default_rng(2026), N)


# (covariate, code or True, target share, source)
SHARES = [
    ("etiology", 0, 0.60, "Shock-CAT AMI-CS 60.7% (Garcia-Garcia 2024)"),
    ("sex", 1, 0.72, "Hamburg 71.3%, Shock-CAT 75.1% male"),
    ("scai_stage", 0, 0.45, "SCAI C 0.45 (calibration.md second-pass update)"),
    ("scai_stage", 1, 0.40, "SCAI D 0.40"),
    ("scai_stage", 2, 0.15, "SCAI E 0.15 (Altshock-2 12%, ACS-CS 12%)"),
]


@pytest.mark.parametrize(("covariate", "code", "target", "source"), SHARES)
def test_category_shares_match_published_mix(patients, covariate, code, target, source):
    assert_within_se(np.mean(patients[covariate] == code), target, N)


def test_arrest_is_more_frequent_in_ami_than_in_hf(patients):
    # HF-CS 15.9% vs AMI-CS 35.2% (PMID 35510546); default AMI 0.40, HF 0.15
    ami = patients["etiology"] == 0
    hf = patients["etiology"] == 1
    assert_within_se(patients["cardiac_arrest"][ami].mean(), 0.40, ami.sum())
    assert_within_se(patients["cardiac_arrest"][hf].mean(), 0.15, hf.sum())


def test_biomarker_medians_match_cohorts(patients):
    # Hamburg lactate median 4.6, CRP 17; CardShock creatinine 1.12 (as eGFR); IL-6 120 [assumption]
    assert np.median(patients["lactate_mmol_l"]) == pytest.approx(4.6, rel=0.02)
    assert np.median(patients["il6_pg_ml"]) == pytest.approx(120, rel=0.03)
    assert np.median(patients["crp_mg_l"]) == pytest.approx(17, rel=0.04)
    q1, q3 = np.quantile(patients["lactate_mmol_l"], [0.25, 0.75])
    # ln IQR / 1.349 is the SD of ln lactate (0.8)
    assert np.log(q3 / q1) / 1.349 == pytest.approx(0.8, rel=0.03)


def test_il6_and_lactate_rise_with_scai_stage(patients):
    for covariate in ("il6_pg_ml", "lactate_mmol_l"):
        medians = [np.median(patients[covariate][patients["scai_stage"] == s]) for s in range(3)]
        assert medians[0] < medians[1] < medians[2]


def test_crp_does_not_rise_with_stage(patients):
    # CRP equally distributed across SCAI B-E (Dettling 2023): only its link through IL-6 remains
    medians = [np.median(patients["crp_mg_l"][patients["scai_stage"] == s]) for s in range(3)]
    assert max(medians) / min(medians) < 1.6


def test_hf_patients_are_younger_than_ami(patients):
    # HF-CS 58.5 vs AMI-CS 65.6 y (PMID 35510546); defaults N(59, 14) and N(68, 12)
    ami_age = patients["age"][patients["etiology"] == 0].mean()
    hf_age = patients["age"][patients["etiology"] == 1].mean()
    assert ami_age - hf_age == pytest.approx(9, abs=1)
    assert patients["age"].min() >= 18
    assert patients["age"].max() <= 95


def test_comatose_only_after_arrest(patients):
    assert not np.any(patients["comatose_after_arrest"] & ~patients["cardiac_arrest"])


def test_lvef_is_truncated_to_published_range(patients):
    assert patients["lvef_pct"].min() >= 10
    assert patients["lvef_pct"].max() <= 60


def test_egfr_matches_ckd_epi_2021_worked_value():
    # CKD-EPI 2021 (Inker, NEJM 2021): 60-year-old man, creatinine 1.0 mg/dL -> 86 mL/min/1.73 m2
    # (142 * (1.0/0.9)^-1.200 * 0.9938^60 = 86.2), woman 0.7 mg/dL age 50 -> 104 (142*0.9938^50*1.012)
    value = egfr_ckd_epi_2021(np.array([1.0, 0.7]), np.array([60.0, 50.0]), np.array([True, False]))
    assert value[0] == pytest.approx(86.16, abs=0.05)
    assert value[1] == pytest.approx(142 * 0.9938**50 * 1.012, rel=1e-12)


def test_same_generator_state_gives_same_patients():
    a = sample_population(np.random.default_rng(5), 1000)
    b = sample_population(np.random.default_rng(5), 1000)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_bivariate_normal_cdf_matches_scipy():
    """Owen's T form of the bivariate normal CDF (Owen 1956) against scipy.stats, incl. axes."""
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(3)
    points = [(0.0, 1.0), (1.0, 0.0), (0.0, -1.0), (-1.0, 0.0), (0.0, 0.0)]
    points += [tuple(2 * rng.standard_normal(2)) for _ in range(200)]
    for h, k in points:
        for rho in (-0.9, -0.3, 0.0, 0.25, 0.8):
            law = multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]])
            assert bivariate_normal_cdf(h, k, rho) == pytest.approx(law.cdf([h, k]), abs=1e-12)


def test_phenotype_cuts_give_the_phenotype_shares():
    """The cardiorenal cut solves P(lactate <= a, creatinine > c) = p_renal exactly."""
    from scipy.stats import multivariate_normal

    for p_metabolic, p_renal, rho in ((0.3, 0.3, 0.25), (0.1, 0.5, -0.4), (0.45, 0.05, 0.7)):
        a, c = _phenotype_cuts(p_metabolic, p_renal, rho)
        law = multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]])
        assert 1 - ndtr(a) == pytest.approx(p_metabolic, abs=1e-12)
        assert ndtr(a) - law.cdf([a, c]) == pytest.approx(p_renal, abs=1e-10)
