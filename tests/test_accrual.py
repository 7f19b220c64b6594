"""Calendar time of enrolment and analyses."""

import numpy as np
import pytest

from cstrial.design.accrual import enrolled_by, enrolment_months, months_to_enrol


def test_constant_accrual_enrols_one_patient_every_1_over_rate_months():
    months = enrolment_months(100, patients_per_month=25)
    np.testing.assert_allclose(months, np.arange(1, 101) / 25)
    assert enrolled_by(4.0, 25) == 100


@pytest.mark.parametrize("ramp", [0.0, 3.0])
def test_enrolled_by_inverts_months_to_enrol(ramp):
    counts = np.arange(1, 500)
    months = months_to_enrol(counts, 20, ramp)
    np.testing.assert_array_equal(enrolled_by(months, 20, ramp), counts)


def test_ramp_up_slows_early_enrolment():
    # linear ramp over 4 months at 20/month enrols 40 patients in the ramp, then 20 per month
    assert months_to_enrol(40.0, 20, 4.0) == pytest.approx(4.0)
    assert months_to_enrol(60.0, 20, 4.0) == pytest.approx(5.0)
    assert months_to_enrol(10.0, 20, 4.0) == pytest.approx(2.0)
