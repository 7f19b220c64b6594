"""Inclusion/exclusion apply exactly as written; enrolment yields exactly n eligible patients."""

import numpy as np
import pytest

from cstrial.errors import InfeasibleDesignError
from cstrial.population import Criteria, eligible, enroll, sample_population

CRITERIA = Criteria(
    inclusion={
        "etiology": ("AMI",),
        "il6_pg_ml": (50.0, None),
        "age": (18.0, 90.0),
        "scai_stage": ("D", "E"),
    },
    exclusion={"comatose_after_arrest": (True,)},
)


def test_enrolled_patients_meet_every_criterion_exactly():
    patients, screened = enroll(np.random.default_rng(1), 5000, CRITERIA, eligible_fraction=0.15)
    assert len(patients["age"]) == 5000
    assert screened >= 5000
    assert np.all(patients["etiology"] == 0)
    assert np.all(patients["il6_pg_ml"] >= 50)
    assert np.all((patients["age"] >= 18) & (patients["age"] <= 90))
    assert np.all(patients["scai_stage"] >= 1)
    assert not np.any(patients["comatose_after_arrest"])


def test_eligible_mask_is_the_conjunction_of_criteria():
    patients = sample_population(np.random.default_rng(2), 50_000)
    mask = eligible(patients, CRITERIA)
    expected = (
        (patients["etiology"] == 0)
        & (patients["il6_pg_ml"] >= 50)
        & (patients["age"] >= 18)
        & (patients["age"] <= 90)
        & (patients["scai_stage"] >= 1)
        & ~patients["comatose_after_arrest"]
    )
    np.testing.assert_array_equal(mask, expected)


def test_screened_per_enrolled_reflects_eligibility():
    _, screened = enroll(np.random.default_rng(3), 20_000, CRITERIA, eligible_fraction=0.15)
    fraction = eligible(sample_population(np.random.default_rng(4), 200_000), CRITERIA).mean()
    assert 20_000 / screened == pytest.approx(fraction, rel=0.05)


def test_filter_leaving_almost_no_one_is_a_clear_error():
    rare = Criteria(inclusion={"il6_pg_ml": (1e6, None)})
    with pytest.raises(InfeasibleDesignError, match=r"eligible.*il6_pg_ml"):
        enroll(np.random.default_rng(5), 100, rare, eligible_fraction=0.0)


def test_enrolment_is_deterministic_given_the_generator():
    a, _ = enroll(np.random.default_rng(9), 300, CRITERIA, 0.15)
    b, _ = enroll(np.random.default_rng(9), 300, CRITERIA, 0.15)
    np.testing.assert_array_equal(a["il6_pg_ml"], b["il6_pg_ml"])


def test_staged_screening_enrols_from_the_same_law_as_filtering_everyone():
    """Criteria applied as covariates are drawn (fewer draws) give the distribution of
    the eligible among fully drawn patients: two-sample KS on every covariate."""
    from scipy.stats import ks_2samp

    full = sample_population(np.random.default_rng(10), 400_000)
    mask = eligible(full, CRITERIA)
    staged, _ = enroll(np.random.default_rng(11), int(mask.sum()), CRITERIA, mask.mean())
    for name, values in full.items():
        reference = values[mask].astype(float)
        assert ks_2samp(reference, staged[name].astype(float)).pvalue > 1e-3, name
