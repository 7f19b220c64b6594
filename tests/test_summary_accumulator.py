"""The summary's tallies per (scenario, comparison) equal a pandas groupby of the same trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cstrial.results import SummaryAccumulator


def _trials(seed: int, rows: int = 200) -> pa.Table:
    rng = np.random.default_rng(seed)
    estimate = rng.normal(size=rows)
    estimate[rng.random(rows) < 0.1] = np.nan
    secondary = rng.normal(size=rows)
    secondary[rng.random(rows) < 0.2] = np.inf
    return pa.table(
        {
            # groups interleaved and first seen in a non-sorted order
            "scenario": rng.choice(["null", "base"], rows).tolist(),
            "comparison": rng.choice(["b vs a", "c vs a", "a2 vs a"], rows).tolist(),
            "decision": rng.choice(["none", "efficacy", "futility"], rows).tolist(),
            "stop_look": rng.integers(1, 4, rows).astype(np.int16),
            "n_enrolled": rng.integers(100, 600, rows).astype(np.int32),
            "duration_months": rng.uniform(6, 30, rows),
            "estimate": estimate,
            "sec_reject": rng.random(rows) < 0.3,
            "sec_estimate": secondary,
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tallies_equal_a_pandas_groupby_of_the_same_rows(seed):
    trials = _trials(seed)
    accumulator = SummaryAccumulator([], n_looks=3)
    arm = {label: np.array([1, 2, 3, 4]) for label in ("b vs a", "c vs a", "a2 vs a")}
    accumulator.add(trials, arm)
    accumulator.add(trials.slice(50), arm)  # a second chunk adds to the same tallies

    frame = pd.concat([trials.to_pandas(), trials.slice(50).to_pandas()], ignore_index=True)
    groups = frame.groupby(["scenario", "comparison"], sort=False)
    assert list(accumulator._tallies) == [key for key, _ in groups]  # first appearance
    for key, group in groups:
        tally = accumulator._tallies[key]
        looks = group["stop_look"].to_numpy() - 1
        for decision, counted in (("efficacy", tally.reject), ("futility", tally.futility)):
            expected = np.bincount(looks[group["decision"] == decision], minlength=3)
            np.testing.assert_array_equal(counted, expected)
        assert tally.n == len(group)
        assert tally.sum_n == group["n_enrolled"].sum()
        finite = group["estimate"].dropna()
        assert tally.n_estimate == len(finite)
        assert tally.sum_estimate == pytest.approx(finite.sum(), rel=1e-13)
        assert tally.sum_duration == pytest.approx(group["duration_months"].sum(), rel=1e-13)
        ok = np.isfinite(group["sec_estimate"])
        rejected, total, n_ok = tally.secondary["sec"]
        assert (rejected, n_ok) == (group["sec_reject"].sum(), ok.sum())
        assert total == pytest.approx(group["sec_estimate"][ok].sum(), rel=1e-13)
        np.testing.assert_array_equal(tally.arm, 2 * np.array([1, 2, 3, 4]))
