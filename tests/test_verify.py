"""Verify: a finished run re-run from its manifest; any changed value is named by file, column and row."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.engine import run
from cstrial.errors import CstrialError
from cstrial.verify import compare_parquet, verify_run

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _tamper(path: Path, column: str, row: int, change) -> None:
    """Rewrite `path` with one value of `column` changed (same schema, default writer)."""
    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    values[row] = change(values[row])
    index = table.schema.get_field_index(column)
    table = table.set_column(
        index, table.schema.field(index), pa.array(values, table.schema.field(index).type)
    )
    pq.write_table(table, path)


@pytest.fixture
def finished(write_protocol, tmp_path) -> Path:
    protocol = write_protocol({"simulation.chunk_size": 40, "design.sample_size": 120})
    return run(protocol, n_sims=80, jobs=1, out=tmp_path / "run", save_patients=2).out


def test_a_fresh_run_verifies(finished):
    result = invoke("verify", finished, "--jobs", 1)
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    assert "patients.parquet" in result.output


def test_a_changed_event_count_fails_naming_file_column_and_row(finished):
    _tamper(finished / "trials.parquet", "events_control", 17, lambda v: v + 1)
    result = invoke("verify", finished, "--jobs", 1)
    assert result.exit_code == 1
    assert "trials.parquet: column events_control differs, first at row 17" in result.output
    assert "sim 17" in result.output
    assert "Traceback" not in result.output


def test_a_changed_summary_float_fails(finished):
    _tamper(finished / "summary.parquet", "power", 1, lambda v: v + 1e-9)
    report = verify_run(finished, jobs=1)
    assert not report.ok
    assert [(d.file, d.kind) for d in report.differences if d.kind != "values"] == [
        ("summary.parquet", "integrity")  # its SHA-256 is not the manifest's
    ]
    assert [(d.file, d.column, d.row) for d in report.differences if d.kind == "values"] == [
        ("summary.parquet", "power", 1)
    ]


def test_a_rewritten_file_with_the_same_values_fails_its_hash_only(finished):
    """The manifest vouches for bytes: a file written again (another compression, other
    metadata) is no longer the run's, though no value changed."""
    path = finished / "trials.parquet"
    table = pq.read_table(path).replace_schema_metadata({"written_by": "another pyarrow"})
    pq.write_table(table, path, compression="snappy", use_dictionary=False, row_group_size=7)
    report = verify_run(finished, jobs=1)
    assert [(d.file, d.kind) for d in report.differences] == [("trials.parquet", "integrity")]
    assert "as manifest.json records" in report.render()


def test_a_run_of_one_scenario_verifies(write_protocol, tmp_path):
    protocol = write_protocol({"simulation.chunk_size": 40, "design.sample_size": 120})
    out = run(protocol, n_sims=40, jobs=1, out=tmp_path / "run", scenario="null-effect").out
    report = verify_run(out, jobs=1)
    assert report.ok, report.render()


def test_json_report_lists_the_differences(finished):
    _tamper(finished / "trials.parquet", "decision", 3, lambda v: "futility")
    result = invoke("verify", finished, "--jobs", 1, "--json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["verified"] is False
    assert "decision" in [d["column"] for d in payload["differences"]]


def test_a_missing_column_or_row_is_named(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"x": [1, 2], "y": [1.0, float("nan")]}), a)
    pq.write_table(pa.table({"x": [1, 2], "y": [1.0, float("nan")]}), b)
    assert compare_parquet(a, b) == []
    pq.write_table(pa.table({"x": [1, 2, 3], "y": [1.0, 2.0, 3.0]}), b)
    assert "2 rows" in compare_parquet(a, b)[0].render()
    pq.write_table(pa.table({"x": [1, 2]}), b)
    assert "extra y" in compare_parquet(a, b)[0].render()


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path):
    result = invoke("verify", tmp_path)
    assert result.exit_code == 1
    assert "no manifest.json" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(CstrialError):
        verify_run(tmp_path / "nope")


def test_a_run_of_virtual_patients_verifies_and_a_change_is_caught(write_protocol, tmp_path):
    protocol = write_protocol(
        {"simulation.chunk_size": 40, "design.sample_size": 120, "simulation.sampler": "patients"}
    )
    out = run(protocol, n_sims=80, jobs=1, out=tmp_path / "run").out
    assert verify_run(out, jobs=1).ok
    path = out / "trials.parquet"
    table = pq.read_table(path)
    events = table.column("events_control").to_pylist()
    events[5] += 1
    table = table.set_column(
        table.schema.get_field_index("events_control"),
        "events_control",
        pa.array(events, pa.int32()),
    )
    pq.write_table(table, path)
    report = verify_run(out, jobs=1)
    assert not report.ok and "events_control" in report.render()


def test_a_run_of_another_minor_version_is_refused_with_the_reason(write_protocol, tmp_path):
    """0.1 outputs are not reproduced by 0.2 (CHANGELOG.md): verify says so, not a column."""
    import json

    from typer.testing import CliRunner

    from cstrial.cli import app
    from cstrial.verify import VersionMismatchError

    out = run(write_protocol(), n_sims=20, jobs=1, out=tmp_path / "run").out
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["cstrial_version"] = "0.1.0"
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(VersionMismatchError, match=r"made by cstrial 0\.1\.0"):
        verify_run(out, jobs=1)
    result = CliRunner().invoke(app, ["verify", str(out)])
    assert result.exit_code != 0
    assert "CHANGELOG.md" in result.output and "Traceback" not in result.output
