"""The summary's tallies: what a chunk's trials add up to, summed chunk by chunk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cstrial.engine.decide import DECISIONS
from cstrial.engine.summary import ComparisonTally


def _trials(seed: int, rows: int = 200) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    estimate = rng.normal(size=rows)
    estimate[rng.random(rows) < 0.1] = np.nan
    secondary = rng.normal(size=rows)
    secondary[rng.random(rows) < 0.2] = np.inf
    return {
        "decision": rng.integers(0, 3, rows).astype(np.int8),
        "stop_look": rng.integers(0, 3, rows),
        "n_enrolled": rng.integers(100, 600, rows).astype(np.int64),
        "duration": rng.uniform(6, 30, rows),
        "estimate": estimate,
        "sec_reject": rng.random(rows) < 0.3,
        "sec_estimate": secondary,
    }


def _tally(t: dict[str, np.ndarray]) -> ComparisonTally:
    return ComparisonTally.of_trials(
        3,
        decision=t["decision"],
        stop_look=t["stop_look"],
        n_enrolled=t["n_enrolled"],
        duration=t["duration"],
        estimate=t["estimate"],
        arms=(10, 4, 11, 3),
        secondary={"sec": (t["sec_reject"], t["sec_estimate"])},
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_tally_counts_what_a_pandas_groupby_of_the_trials_counts(seed):
    t = _trials(seed)
    tally = _tally(t)
    frame = pd.DataFrame(t).assign(decision=lambda f: np.asarray(DECISIONS)[f["decision"]])
    for decision, counted in (("efficacy", tally.reject), ("futility", tally.futility)):
        expected = np.bincount(frame.loc[frame["decision"] == decision, "stop_look"], minlength=3)
        np.testing.assert_array_equal(counted, expected)
    assert tally.n == len(frame)
    assert tally.sum_n == frame["n_enrolled"].sum()
    assert tally.n_estimate == frame["estimate"].notna().sum()
    assert tally.sum_estimate == pytest.approx(frame["estimate"].sum(), rel=1e-13)
    assert tally.sum_duration == pytest.approx(frame["duration"].sum(), rel=1e-13)
    finite = np.isfinite(frame["sec_estimate"])
    assert tally.secondary["sec"].rejections == frame["sec_reject"].sum()
    assert tally.secondary["sec"].n_estimate == finite.sum()


def test_tallies_add_up_to_the_tally_of_all_the_trials():
    first, second = _trials(1), _trials(2, rows=77)
    total = ComparisonTally(3)
    total.add(_tally(first))
    total.add(_tally(second))
    both = _tally({k: np.concatenate([first[k], second[k]]) for k in first})
    assert total.n == both.n == 277
    np.testing.assert_array_equal(total.reject, both.reject)
    np.testing.assert_array_equal(total.futility, both.futility)
    assert (total.enrolled_control, total.deaths_treatment) == (20, 6)
    assert total.sum_duration == pytest.approx(both.sum_duration, rel=1e-13)
    assert total.secondary["sec"].rejections == both.secondary["sec"].rejections


def test_a_tally_survives_the_chunk_store_json_exactly():
    tally = _tally(_trials(4))
    back = ComparisonTally.from_json(json.loads(json.dumps(tally.to_json())))
    assert back.to_json() == tally.to_json()
    assert back.sum_duration == tally.sum_duration  # floats round-trip bit for bit
