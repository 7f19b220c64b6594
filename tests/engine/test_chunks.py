"""The chunk store keeps a finished chunk whole, vouched for by hashes, for --resume."""

from __future__ import annotations

import pandas as pd
import pytest

from cstrial.engine.chunks import ChunkStore
from cstrial.engine.plan import plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.errors import CstrialError
from cstrial.protocol import expand_scenarios, load_protocol


@pytest.fixture(scope="module")
def chunk(tmp_path_factory):
    from helpers import SMALL

    plan = plan_scenario(expand_scenarios(load_protocol(SMALL))[0], 3, save_patients=2)
    return simulate_chunk(plan, 0, 0, 20, plan.n_looks, save_patients=2)


def test_a_stored_chunk_reads_back_as_it_was(chunk, tmp_path):
    store = ChunkStore(tmp_path / ".chunks", {"seed": 3})
    store.reset()
    store.put(0, 0, chunk.trials, chunk.tallies, chunk.patients)
    assert store.finished(0, 0)
    back = store.get(0, 0)
    assert back.trials.equals(chunk.trials)
    assert back.patients is not None and chunk.patients is not None
    # patients hold NaN (alive at the horizon), which Table.equals never calls equal
    pd.testing.assert_frame_equal(back.patients.to_pandas(), chunk.patients.to_pandas())
    assert [t.to_json() for t in back.tallies] == [t.to_json() for t in chunk.tallies]


def test_a_damaged_or_missing_file_means_the_chunk_is_not_finished(chunk, tmp_path):
    store = ChunkStore(tmp_path / ".chunks", {"seed": 3})
    store.reset()
    store.put(0, 0, chunk.trials, chunk.tallies, None)
    (tmp_path / ".chunks" / "s0-c0.parquet").write_bytes(b"not the chunk")
    assert not store.finished(0, 0)
    assert not store.finished(0, 1)


def test_chunks_of_another_run_are_refused_naming_what_differs(chunk, tmp_path):
    ChunkStore(tmp_path / ".chunks", {"seed": 3}).reset()
    ChunkStore(tmp_path / ".chunks", {"seed": 3}).put(0, 0, chunk.trials, chunk.tallies, None)
    with pytest.raises(CstrialError, match="seed 3 there, 4 now"):
        ChunkStore(tmp_path / ".chunks", {"seed": 4}).finished(0, 0)
