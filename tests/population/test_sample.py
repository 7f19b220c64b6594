"""The default virtual population reproduces the published marginals it is calibrated to.

Targets are rows of ../shared/calibration.md; tolerances are 4 Monte Carlo SE of a
proportion (or a stated band for medians).
"""

import numpy as np
import pytest
from helpers import assert_within_se
from scipy.special import ndtr

from cstrial.population import POPULATION, sample_population
from cstrial.population.parameters import LOG_NORMAL
from cstrial.population.sample import (
    DRAWS,
    _phenotype_cuts,
    bivariate_normal_cdf,
    bounded_latent,
    egfr_ckd_epi_2021,
    population_from_normals,
    screen,
)

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


def test_comatose_share_among_arrests(patients):
    # p_comatose_given_arrest 0.60 [derived from DanGer Shock's 20.3% resuscitated, non-comatose]
    assert_within_se(
        patients["comatose_after_arrest"][patients["cardiac_arrest"]].mean(),
        0.60,
        patients["cardiac_arrest"].sum(),
    )


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


# covariate, lower and upper physiological limit (sources in population.parameters)
LIMITS = [
    ("lactate_mmol_l", POPULATION["lactate_min"], POPULATION["lactate_max"]),
    ("il6_pg_ml", POPULATION["il6_min"], POPULATION["il6_max"]),
    ("crp_mg_l", POPULATION["crp_min"], POPULATION["crp_max"]),
    ("age", POPULATION["age_min"], POPULATION["age_max"]),
    ("lvef_pct", POPULATION["lvef_min"], POPULATION["lvef_max"]),
]


@pytest.mark.parametrize(("covariate", "low", "high"), LIMITS, ids=[c[0] for c in LIMITS])
def test_every_covariate_stays_within_its_physiological_limits(covariate, low, high):
    """Extreme latent draws (|z| up to 40) still give values inside the limits."""
    z = np.random.default_rng(9).standard_normal((len(DRAWS), 200_000))
    z[:, :1000] *= 40.0  # far tails on purpose
    values = population_from_normals(z)[covariate]
    assert np.all(np.isfinite(values))
    assert values.min() >= low and values.max() <= high


def test_egfr_stays_within_the_range_the_creatinine_limits_allow():
    z = np.random.default_rng(10).standard_normal((len(DRAWS), 100_000)) * 10.0
    egfr = population_from_normals(z)["egfr_ml_min"]
    assert egfr.min() > 2.0 and egfr.max() < 200.0


def test_bounding_leaves_the_calibrated_body_of_each_marginal_alone(patients):
    """Between the knots the covariate is exactly the published log-normal: the quartiles
    and median are those of the unbounded law (Hamburg lactate and CRP, CardShock creatinine)."""
    for name in ("lactate_mmol_l", "il6_pg_ml", "crp_mg_l"):
        _, median, sd_log, _, _ = LOG_NORMAL[name]
        q1, q2, q3 = np.quantile(patients[name], [0.25, 0.5, 0.75])
        exact = POPULATION[median] * np.exp(POPULATION[sd_log] * np.array([-0.6745, 0, 0.6745]))
        np.testing.assert_allclose([q1, q2, q3], exact, rtol=0.02)


def test_bounded_latent_is_monotone_identity_between_knots_and_keeps_tail_mass():
    z = np.linspace(-12, 12, 200_001)
    low_z, high_z = -2.0, 1.7
    out = bounded_latent(z, low_z, high_z)
    assert out.min() >= low_z and out.max() <= high_z
    # monotone up to ndtri's last bit in the far tails, strictly where Phi(-z) is resolvable
    assert np.all(np.diff(out) >= -1e-12)
    moderate = np.abs(z) <= 6
    assert np.all(np.diff(out[moderate]) > 0)
    high_knot = -ndtri_(4 * ndtr(-high_z))
    low_knot = ndtri_(4 * ndtr(low_z))
    inside = (z >= low_knot) & (z <= high_knot)
    np.testing.assert_array_equal(out[inside], z[inside])
    # the probability above the knot is unchanged: P(out > k) = P(z > k)
    rng = np.random.default_rng(4)
    draws = rng.standard_normal(2_000_000)
    mapped = bounded_latent(draws, low_z, high_z)
    assert np.mean(mapped > high_knot) == pytest.approx(np.mean(draws > high_knot), abs=1e-12)
    # and the tail keeps the normal's shape, rescaled into (knot, limit]: density x 4/3
    share = np.mean((mapped > high_knot) & (mapped <= 0.5 * (high_knot + high_z)))
    expected = (ndtr(0.5 * (high_knot + high_z)) - ndtr(high_knot)) * 4 / 3
    assert share == pytest.approx(expected, abs=4 * np.sqrt(expected / 2e6))


def ndtri_(p):
    from scipy.special import ndtri

    return float(ndtri(p))


def test_sample_population_is_population_from_normals_of_the_same_draws():
    """The draw-order contract: sample_population(rng, n) uses rng.standard_normal((12, n))."""
    a = sample_population(np.random.default_rng(5), 20_000)
    b = population_from_normals(np.random.default_rng(5).standard_normal((len(DRAWS), 20_000)))
    assert list(a) == list(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_screening_in_stages_keeps_the_law_of_the_full_draw():
    """Dropping candidates after the etiology stage changes which draws later stages use,
    not the law: AMI patients screened alone look like the AMI patients of a full draw."""
    full = sample_population(np.random.default_rng(6), 200_000)
    ami_only, _ = screen(
        np.random.default_rng(7), 200_000, lambda p: p["etiology"] == 0 if "etiology" in p else None
    )
    ami = full["etiology"] == 0
    assert np.all(ami_only["etiology"] == 0)
    for name in ("age", "lactate_mmol_l", "lvef_pct"):
        assert np.median(ami_only[name]) == pytest.approx(np.median(full[name][ami]), rel=0.02)
    assert ami_only["cardiac_arrest"].mean() == pytest.approx(
        full["cardiac_arrest"][ami].mean(), abs=0.01
    )


def test_population_from_normals_rejects_the_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        population_from_normals(np.zeros((11, 5)))


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
