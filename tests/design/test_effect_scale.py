"""Bounds on the effect scale against rpact 3.3.4's summary values (stored as data).

`effect_scale/rpact.json` holds, per design, rpact's z bounds, planned information and
`criticalValuesEffectScale` / `futilityBoundsEffectScale` (the "Efficacy boundary (t)"
rows of `summary()`); `effect_scale/generate.R` made it (each case keeps its R call).
The rpact z bounds are fed in, so the check is of the z → effect map alone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cstrial.design.effect_scale import hazard_ratio_bounds, risk_difference_bounds

CASES = json.loads((Path(__file__).parent / "effect_scale" / "rpact.json").read_text())["cases"]


def _effect_bounds(case: dict, z: list[float], looks: int) -> np.ndarray:
    if case["scale"] == "risk-difference":
        a = case["allocation"]
        n = np.atleast_1d(case["information_rates"])[:looks] * case["sample_size"]
        # z > 0 favours treatment in cstrial; rpact's directionUpper = FALSE bounds are the same z
        return risk_difference_bounds(z, n / (1 + a), n * a / (1 + a), case["control_risk"])
    return hazard_ratio_bounds(z, np.atleast_1d(case["events"])[:looks], case["allocation"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_effect_scale_bounds_match_rpact_summary(case):
    z = case["efficacy_z"]
    z = z if isinstance(z, list) else [z]
    expected = case["efficacy_effect"]
    expected = expected if isinstance(expected, list) else [expected]
    np.testing.assert_allclose(_effect_bounds(case, z, len(z)), expected, rtol=1e-6, atol=1e-8)
    if case["futility_z"]:
        # rpact rounds its futility effect bounds to 8 significant digits
        futility = case["futility_z"]
        np.testing.assert_allclose(
            _effect_bounds(case, futility, len(futility)),
            case["futility_effect"],
            rtol=1e-6,
            atol=1e-7,
        )


def test_an_infinite_bound_has_no_effect_scale_value():
    rd = risk_difference_bounds([math.inf, 1.96], [100, 200], [100, 200], 0.4)
    assert math.isnan(rd[0]) and rd[1] < 0
    hr = hazard_ratio_bounds([math.inf, 1.96], [100, 200])
    assert math.isnan(hr[0]) and hr[1] < 1


def test_a_bound_no_treatment_risk_can_reach_is_nan():
    # 10 patients an arm, control risk 0.05: no treatment risk >= 0 gives z = 3
    assert math.isnan(risk_difference_bounds([3.0], [10], [10], 0.05)[0])
