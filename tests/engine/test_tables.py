"""trials.parquet's and patients.parquet's schemas are declared from the plans, before any
chunk: every table a chunk builds has exactly the declared columns of its scenario."""

from __future__ import annotations

import pytest
from helpers import PROTOCOLS

from cstrial.engine.plan import plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.engine.tables import patients_schema, trials_schema
from cstrial.protocol import expand_scenarios, load_protocol


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=[p.stem for p in PROTOCOLS])
def test_declared_schemas_hold_every_column_a_chunk_writes(protocol):
    plans = [
        plan_scenario(s, 1, save_patients=1) for s in expand_scenarios(load_protocol(protocol))
    ]
    n_looks = max(p.n_looks for p in plans)
    trials = trials_schema(plans, n_looks)
    patients = patients_schema(plans)
    for plan in plans[:3]:
        result = simulate_chunk(plan, 0, 0, 4, n_looks, save_patients=1)
        for table, declared in ((result.trials, trials), (result.patients, patients)):
            assert table is not None
            for field in table.schema:
                assert declared.field(field.name).type == field.type, (plan.name, field.name)
        # a scenario's own columns come in the declared order
        names = result.trials.schema.names
        assert names == [n for n in trials.names if n in set(names)]


def test_missing_values_are_parquet_nulls_never_nan(write_protocol, tmp_path):
    """z after the stopping look, a death day of a survivor: nulls (SQL's IS NULL finds
    them), and no float column of trials.parquet, summary.parquet or patients.parquet
    holds a NaN."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from cstrial.engine import run

    path = write_protocol(
        {
            "design.looks": [1 / 3, 2 / 3, 1.0],
            "design.futility": {"spending": "hwang-shih-decani", "parameter": -2},
            "simulation.sampler": "patients",
        }
    )
    out = tmp_path / "run"
    run(path, n_sims=60, jobs=1, out=out, save_patients=3)
    trials = pq.read_table(out / "trials.parquet")
    stop = trials.column("stop_look").to_numpy()
    assert (stop < 3).any()  # the null scenario's futility stops
    for k in (1, 2, 3):
        z = trials.column(f"z_look_{k}")
        assert z.null_count == int((stop < k).sum())
    for name in ("trials.parquet", "summary.parquet", "patients.parquet"):
        table = pq.read_table(out / name)
        for field in table.schema:
            if pa_is_float(field.type):
                column = table.column(field.name)
                assert not pc.any(pc.is_nan(column)).as_py(), (name, field.name)
    patients = pq.read_table(out / "patients.parquet")
    death_day = patients.column("death_day")
    assert 0 < death_day.null_count < len(death_day)
    assert not np.isnan(death_day.drop_null().to_numpy()).any()


def pa_is_float(data_type) -> bool:
    import pyarrow as pa

    return pa.types.is_floating(data_type)
