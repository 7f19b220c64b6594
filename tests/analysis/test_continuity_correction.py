"""Yates's continuity correction of the two-proportion test, and its sample size, against R.

Reference values: tests/analysis/r/continuity_correction.R (prop.test(correct = TRUE); the
root of the corrected test's normal-approximation power by uniroot; the exact power of the
corrected test by enumerating both binomials).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from cstrial.analysis import two_proportion_z
from cstrial.design.sample_size import two_proportion_sample_size
from cstrial.engine import run
from cstrial.errors import ProtocolError
from cstrial.protocol import load_protocol

REFERENCE = json.loads((Path(__file__).parent / "r" / "continuity_correction.json").read_text())
SMALL = Path(__file__).parents[1] / "assets" / "small.yaml"


@pytest.mark.parametrize("case", REFERENCE["tests"], ids=lambda c: c["call"])
def test_the_corrected_z_is_r_prop_test(case):
    z, estimate = two_proportion_z(
        np.array(case["events_control"]),
        np.array(case["n_control"]),
        np.array(case["events_treatment"]),
        np.array(case["n_treatment"]),
        continuity_correction=True,
    )
    assert float(z) == pytest.approx(case["z"], rel=1e-10, abs=1e-12)
    assert float(ndtr(-z)) == pytest.approx(case["p_value"], rel=1e-9)
    plain = (
        case["events_treatment"] / case["n_treatment"] - case["events_control"] / case["n_control"]
    )
    assert float(estimate) == pytest.approx(plain)  # the estimate is not corrected


def test_the_correction_only_shrinks_z_towards_zero():
    rng = np.random.default_rng(3)
    e_c, e_t = rng.integers(0, 60, 500), rng.integers(0, 60, 500)
    n = np.full(500, 60)
    plain, _ = two_proportion_z(e_c, n, e_t, n)
    corrected, _ = two_proportion_z(e_c, n, e_t, n, continuity_correction=True)
    assert np.all(np.abs(corrected) <= np.abs(plain) + 1e-15)
    assert np.all((corrected == 0) | (np.sign(corrected) == np.sign(plain)))


@pytest.mark.parametrize(
    "design", REFERENCE["sample_sizes"], ids=lambda d: f"{d['pc']}-{d['pt']}-{d['wc']:.2f}"
)
def test_the_corrected_sample_size_solves_the_power_equation(design):
    """Fleiss, Tytun & Ury's closed form equals R's numerical root of the same equation."""
    wc = design["wc"]
    n = two_proportion_sample_size(
        design["pc"], design["pt"], alpha=design["alpha"], power=design["power"],
        allocation=(wc, 1 - wc), continuity_correction=True,
    )  # fmt: skip
    assert n == pytest.approx(design["n_total"], rel=1e-8)
    plain = two_proportion_sample_size(
        design["pc"], design["pt"], alpha=design["alpha"], power=design["power"],
        allocation=(wc, 1 - wc),
    )  # fmt: skip
    assert n > plain
    if "n_per_arm" in design:
        assert math.ceil(n / 2) == design["n_per_arm"]
        # at that size the corrected test has the target power exactly (enumerated in R),
        # where the uncorrected size would fall short of it
        assert design["exact_power_corrected"] == pytest.approx(design["power"], abs=0.006)
        assert design["exact_power_uncorrected"] > design["power"]


def test_continuity_correction_is_only_for_the_two_proportion_analysis(tmp_path):
    text = SMALL.read_text().replace(
        "analysis: two-proportion}",
        "analysis: cmh, strata: scai_stage, continuity_correction: true}",
    )
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(
        ProtocolError, match=r"endpoints\.primary\.continuity_correction: is for the two-proportion"
    ):
        load_protocol(path)


def test_a_run_with_the_correction_tests_each_trial_with_yates(tmp_path):
    corrected = run(
        load_protocol(SMALL, {"endpoints.primary.continuity_correction": True}),
        n_sims=200, jobs=1, out=tmp_path / "cc", scenario="base",
    )  # fmt: skip
    plain = run(load_protocol(SMALL), n_sims=200, jobs=1, out=tmp_path / "plain", scenario="base")
    cc = pd.read_parquet(corrected.trials_path)
    un = pd.read_parquet(plain.trials_path)
    # same seed, same draws: the counts agree, and only the statistic differs
    for column in ("n_control", "n_treatment", "events_control", "events_treatment"):
        pd.testing.assert_series_equal(cc[column], un[column])
    z, _ = two_proportion_z(
        cc["events_control"].to_numpy(), cc["n_control"].to_numpy(),
        cc["events_treatment"].to_numpy(), cc["n_treatment"].to_numpy(),
        continuity_correction=True,
    )  # fmt: skip
    np.testing.assert_allclose(cc["z_look_1"], z, rtol=1e-12)
    assert (cc["z_look_1"].abs() <= un["z_look_1"].abs() + 1e-12).all()
    assert corrected.summary["power"].iloc[0] <= plain.summary["power"].iloc[0]


def test_the_analytic_sample_size_uses_the_correction():
    from cstrial.sample_size import analytic_sample_size

    plain = analytic_sample_size(load_protocol(SMALL), 0.8)
    corrected = analytic_sample_size(
        load_protocol(SMALL, {"endpoints.primary.continuity_correction": True}), 0.8
    )
    assert corrected.fixed_sample_size > plain.fixed_sample_size
