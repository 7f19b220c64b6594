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
