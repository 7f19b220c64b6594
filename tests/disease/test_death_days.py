"""Days of death from the baseline shape at death, and death by a horizon without the days.

The simulation keeps each patient's G at death and turns it into days only when an
analysis needs them; a binary endpoint asks `died_by`. Both must equal the plain
whole-array inverse, bit for bit, including values at a horizon's own G.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cstrial.disease.model import (
    EARLY_DAYS,
    LATE_SPLIT_DAYS,
    MODEL_HORIZON_DAYS,
    _late_span,
    _w30,
    _weibull,
    death_days,
    died_by,
    inverse_timing,
    timing_fraction,
)
from cstrial.disease.parameters import DISEASE, LATE


def whole_array_inverse(y: np.ndarray) -> np.ndarray:
    """The inverse of G written on whole arrays: the definition the sparse form keeps."""
    shape, scale = _weibull(DISEASE)
    r = LATE["late_hazard_ratio_after_180"]
    inner = 1.0 - np.minimum(y, 1.0) * _w30(DISEASE)
    span = (y - 1.0) * _late_span(r)
    first = LATE_SPLIT_DAYS - EARLY_DAYS
    with np.errstate(divide="ignore", invalid="ignore"):
        early = scale * (-np.log(inner)) ** (1.0 / shape)
        late = np.where(span <= first, EARLY_DAYS + span, LATE_SPLIT_DAYS + (span - first) / r)
    days = np.where(y <= 1.0, np.minimum(early, EARLY_DAYS), np.minimum(late, MODEL_HORIZON_DAYS))
    return np.where(y <= 2.0, days, np.inf)


def fractions_around(horizons: list[float], rng: np.random.Generator) -> np.ndarray:
    """G values spread over [0, G(365)] and beyond, plus each horizon's G and its float neighbours."""
    g_end = float(timing_fraction(MODEL_HORIZON_DAYS))
    spread = rng.uniform(0.0, 1.2 * g_end, 5000)
    edges = []
    for days in horizons:
        g = float(timing_fraction(days))
        edges += [g, *np.nextafter(g, [0.0, np.inf]), g * (1 - 1e-9), g * (1 + 1e-9)]
        edges += list(g + np.arange(-40, 41) * np.spacing(g))
    return np.concatenate([spread, edges, [0.0, 1.0, g_end, np.inf]])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), horizon=st.floats(0.01, 400.0))
def test_died_by_equals_days_at_or_before_the_horizon(seed, horizon):
    y = fractions_around([horizon, 30.0, 90.0, 180.0, 365.0], np.random.default_rng(seed))
    np.testing.assert_array_equal(died_by(y, horizon), death_days(y) <= horizon)


def test_died_by_at_the_shipped_horizons_and_their_own_g():
    for horizon in (7.0, 28.0, 30.0, 60.0, 90.0, 180.0, 270.0, 365.0):
        y = fractions_around([horizon], np.random.default_rng(int(horizon)))
        np.testing.assert_array_equal(died_by(y, horizon), death_days(y) <= horizon)


def test_died_by_keeps_the_shape_of_its_input():
    y = np.full((3, 4), 0.5)
    assert died_by(y, 30.0).shape == (3, 4)
    assert died_by(y, 30.0).all()


def test_inverse_timing_equals_the_whole_array_form_bit_for_bit():
    rng = np.random.default_rng(7)
    y = fractions_around([30.0, 180.0, 365.0], rng).reshape(-1)
    np.testing.assert_array_equal(inverse_timing(y), whole_array_inverse(y))
    square = rng.uniform(0, 2.3, (50, 40))
    np.testing.assert_array_equal(inverse_timing(square), whole_array_inverse(square))


def test_death_days_are_infinite_after_the_model_horizon():
    g_end = float(timing_fraction(MODEL_HORIZON_DAYS))
    days = death_days(np.array([0.0, 1.0, g_end, np.nextafter(g_end, np.inf), np.inf]))
    assert days[0] == 0.0
    assert abs(days[1] - EARLY_DAYS) < 1e-12 * EARLY_DAYS
    assert np.isfinite(days[2]) and days[2] <= MODEL_HORIZON_DAYS
    assert np.isinf(days[3:]).all()
