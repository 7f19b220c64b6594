"""The command line: real app, fixture protocols; exit codes, messages, no tracebacks, Parquet out."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import ASSETS
from typer.testing import CliRunner

from cstrial.cli import app

BAD = sorted((ASSETS / "bad").glob("*.yaml"))
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_run_writes_parquet_and_prints_power(tmp_path):
    result = invoke(
        "run", ASSETS / "small.yaml", "--n-sims", 200, "--jobs", 1, "--out", tmp_path / "run"
    )
    assert result.exit_code == 0, result.output
    assert "power" in result.output and "active vs control" in result.output
    trials = pd.read_parquet(tmp_path / "run" / "trials.parquet")
    assert len(trials) == 400
    assert (tmp_path / "run" / "summary.parquet").is_file()
    assert (tmp_path / "run" / "manifest.json").is_file()


def test_run_json_is_machine_readable(tmp_path):
    result = invoke(
        "run",
        ASSETS / "small.yaml",
        "--n-sims",
        50,
        "--jobs",
        1,
        "--out",
        tmp_path / "run",
        "--json",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert [row["scenario"] for row in payload["summary"]] == ["base", "null-effect"]
    assert 0 <= payload["summary"][0]["power"] <= 1


def test_run_options_override_the_protocol(tmp_path):
    result = invoke(
        "run",
        ASSETS / "small.yaml",
        "--n-sims",
        30,
        "--seed",
        9,
        "--jobs",
        1,
        "--out",
        tmp_path / "run",
        "--scenario",
        "base",
        "--save-patients",
        2,
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert (manifest["seed"], manifest["n_sims"]) == (9, 30)
    assert [s["name"] for s in manifest["scenarios"]] == ["base"]
    assert (tmp_path / "run" / "patients.parquet").is_file()


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_malformed_protocol_fails_cleanly(path, tmp_path):
    """Every malformed protocol: non-zero exit, the file and a field path named, no traceback."""
    result = invoke("run", path, "--n-sims", 5, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert str(path) in result.output
    assert "line " in result.output
    assert not (tmp_path / "run" / "trials.parquet").exists()


def test_validate_reports_every_malformed_protocol_too():
    result = invoke("validate", BAD[0])
    assert result.exit_code == 2
    assert "is invalid" in result.output


def test_inclusion_that_leaves_no_one_eligible_is_a_clear_error(write_protocol, tmp_path):
    protocol = write_protocol({"population.inclusion": {"il6_pg_ml": {"min": 1_000_000}}})
    result = invoke("run", protocol, "--n-sims", 5, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "eligible" in result.output and "il6_pg_ml" in result.output
    assert "Traceback" not in result.output


def test_missing_file_is_a_clear_error(tmp_path):
    result = invoke("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "nope.yaml" in result.output
    assert "Traceback" not in result.output


def test_unwritable_out_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke("run", ASSETS / "small.yaml", "--n-sims", 5, "--out", blocker / "run")
    assert result.exit_code != 0
    assert "cannot write results" in result.output
    assert "Traceback" not in result.output


def test_validate_prints_resolved_protocol_and_eligible_fraction():
    result = invoke("validate", ASSETS / "small.yaml")
    assert result.exit_code == 0, result.output
    assert "sample_size: 400" in result.output
    assert "eligible fraction" in result.output
    payload = json.loads(invoke("validate", ASSETS / "small.yaml", "--json").output)
    assert payload["scenarios"][0]["eligible_fraction"] == pytest.approx(0.6, abs=0.01)
