"""Boundaries and design characteristics equal rpact's over a grid of 258 designs.

The reference values are rpact's (getDesignGroupSequential, getDesignCharacteristics;
the version is in the file), computed by tests/design/rpact/generate.py for every 16th
of 4,120 designs: K = 2-5, equal and unequal information rates, one-sided alpha 0.025
and 0.05, beta 0.1 and 0.2, five efficacy families and none before the last look, and
beta-spending futility of four families, binding and non-binding. None was computed
with cstrial. Tolerances are rpact's own accuracy: it solves bounds to about 1e-8 and
integrates probabilities to about 1e-6.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cstrial.design import design_characteristics, group_sequential_boundaries

REFERENCE = json.loads((Path(__file__).parent / "rpact" / "rpact_grid.json").read_text())
FAMILY = {
    "asOF": "lan-demets-obrien-fleming",
    "asP": "lan-demets-pocock",
    "asKD": "kim-demets",
    "asHSD": "hwang-shih-decani",
    "WT": "wang-tsiatis",
    "noEarlyEfficacy": "none",
    "bsOF": "lan-demets-obrien-fleming",
    "bsP": "lan-demets-pocock",
    "bsKD": "kim-demets",
    "bsHSD": "hwang-shih-decani",
}
# rpact writes a bound of "no stop" as a large number (and Inf in some versions)
NO_STOP = 30.0


def _id(design: dict) -> str:
    futility = f"{design['futility']}{'-binding' if design['binding'] else ''}"
    return (
        f"K{design['k']}-{design['efficacy']}{design['efficacy_parameter'] or ''}-"
        f"{futility if design['futility'] else 'nofut'}-a{design['alpha']}-b{design['beta']}-"
        + "/".join(f"{r:.2f}" for r in design["rates"])
    )


@pytest.mark.parametrize("design", REFERENCE["designs"], ids=_id)
def test_boundaries_and_characteristics_equal_rpacts(design):
    futility = design["futility"]
    bounds = group_sequential_boundaries(
        looks=design["rates"],
        alpha=design["alpha"],
        efficacy=FAMILY[design["efficacy"]],
        efficacy_parameter=design["efficacy_parameter"],
        futility=None if futility is None else FAMILY[futility],
        futility_parameter=design["futility_parameter"],
        binding=design["binding"],
        beta=design["beta"],
    )
    traits = design_characteristics(bounds)

    efficacy = np.array(design["crit"], dtype=float)
    stops = efficacy < NO_STOP
    np.testing.assert_allclose(bounds.efficacy_z[stops], efficacy[stops], rtol=0, atol=1e-6)
    assert np.all(bounds.efficacy_z[~stops] > NO_STOP)
    np.testing.assert_allclose(bounds.cumulative_alpha, design["cumalpha"], rtol=0, atol=2e-7)
    if futility is not None:  # rpact gives the K - 1 interim futility bounds
        np.testing.assert_allclose(bounds.futility_z[:-1], design["fut"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(traits.futility_per_look[:-1], design["futp"], rtol=0, atol=1e-5)
    assert bounds.drift == pytest.approx(math.sqrt(design["shift"][0]), rel=1e-6)
    assert bounds.inflation_factor == pytest.approx(design["infl"][0], rel=1e-6)
    np.testing.assert_allclose(traits.reject_per_look, design["rej"], rtol=0, atol=1e-5)
    assert traits.power == pytest.approx(design["power"][-1], abs=1e-6)
    assert traits.expected_information_h0_vs_fixed == pytest.approx(design["asn0"][0], rel=1e-5)
    assert traits.expected_information_h1_vs_fixed == pytest.approx(design["asn1"][0], rel=1e-5)
