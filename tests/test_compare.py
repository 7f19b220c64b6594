"""Designs side by side: run directories and protocols, type I error from the null scenario, Parquet out."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from helpers import ASSETS, SMALL
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.compare import compare_designs
from cstrial.engine import run
from cstrial.errors import CstrialError
from cstrial.sample_size import analytic_sample_size

runner = CliRunner()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "small"
    run(SMALL, n_sims=200, jobs=1, out=out)
    return out


def test_a_run_and_a_protocol_side_by_side(small_run, write_protocol, tmp_path):
    other = write_protocol({"name": "small-800", "design.sample_size": 800})
    result = compare_designs([small_run, other], n_sims=100, jobs=1, out=tmp_path / "cmp")
    table = result.table
    assert list(zip(table["design"], table["scenario"], strict=True)) == [
        ("small", "base"),
        ("small", "null-effect"),
        ("small-800", "base"),
        ("small-800", "null-effect"),
    ]
    assert (tmp_path / "cmp" / "small-800" / "manifest.json").is_file()  # the protocol's run
    assert table.loc[2, "sample_size"] == 800 and table.loc[2, "n_sims"] == 100
    saved = pd.read_parquet(tmp_path / "cmp" / "comparison.parquet")
    assert saved["power"].tolist() == table["power"].tolist()
    for column in ("power", "type_one_error", "expected_n", "expected_duration_months",
                   "reject_look_1", "futility_look_1", "eligible_fraction",
                   "screened_per_enrolled", "analytic_sample_size"):  # fmt: skip
        assert column in saved.columns


def test_type_one_error_is_the_power_of_the_null_scenario(small_run, tmp_path):
    table = compare_designs([small_run], out=tmp_path).table
    null = table[table["scenario"] == "null-effect"].iloc[0]
    assert (table["type_one_error"] == null["power"]).all()
    assert (table["null_scenario"] == "null-effect").all()


def test_a_scenario_with_no_true_effect_serves_as_null_when_none_is_named(write_protocol, tmp_path):
    protocol = write_protocol({"scenarios.0.name": "no-benefit"})
    table = compare_designs([protocol], n_sims=100, jobs=1, out=tmp_path).table
    assert (table["null_scenario"] == "no-benefit").all()
    without = write_protocol({"scenarios": []}, name="no-null.yaml")
    table = compare_designs([without], n_sims=50, jobs=1, out=tmp_path / "b").table
    assert table["type_one_error"].isna().all()


def test_analytic_n_for_target_power_per_scenario(small_run, tmp_path):
    table = compare_designs([small_run], out=tmp_path, power=0.9).table
    base = table[table["scenario"] == "base"].iloc[0]
    assert base["analytic_sample_size"] == analytic_sample_size(SMALL, 0.9).sample_size
    assert base["analytic_screened"] == pytest.approx(
        base["analytic_sample_size"] * base["screened_per_enrolled"]
    )
    null = table[table["scenario"] == "null-effect"].iloc[0]
    assert math.isnan(null["analytic_sample_size"])  # no benefit, no N


def test_enrichment_trade_off_across_a_grid_of_thresholds(write_protocol, tmp_path):
    protocol = write_protocol({"grid": {"population.inclusion.il6_pg_ml.min": [50, 200]}})
    table = compare_designs([protocol], n_sims=50, jobs=1, out=tmp_path).table
    low = table[table["scenario"] == "grid-il6_pg_ml.min-50"].iloc[0]
    high = table[table["scenario"] == "grid-il6_pg_ml.min-200"].iloc[0]
    assert high["eligible_fraction"] < low["eligible_fraction"]
    assert high["screened_per_enrolled"] > low["screened_per_enrolled"]


def test_the_same_protocol_twice_gets_two_names_and_two_folders(tmp_path):
    result = compare_designs([SMALL, SMALL], n_sims=30, jobs=1, out=tmp_path)
    assert result.table["design"].nunique() == 2
    assert (tmp_path / "small").is_dir() and (tmp_path / "small-2").is_dir()


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(CstrialError, match=r"without manifest\.json"):
        compare_designs([tmp_path], out=tmp_path / "cmp")


def test_cli_compare_json(small_run, tmp_path):
    result = runner.invoke(app, ["compare", str(small_run), "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["out"] == str(tmp_path)
    assert [row["scenario"] for row in payload["comparison"]] == ["base", "null-effect"]


def test_cli_compare_table(small_run, tmp_path):
    result = runner.invoke(app, ["compare", str(small_run), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "type I error" in result.output and "analytic N" in result.output
    assert "comparison.parquet" in result.output


def test_protocols_are_run_with_the_run_options(small_run, write_protocol, tmp_path):
    """DESIGN.md: protocols given to compare are run with the run options (--scenario,
    --save-patients, ...); a run directory keeps its null scenario for the type I error."""
    other = write_protocol({"name": "small-800", "design.sample_size": 800})
    result = runner.invoke(
        app,
        ["compare", str(small_run), str(other), "--scenario", "base", "--save-patients", "2",
         "--n-sims", "50", "--jobs", "1", "--out", str(tmp_path), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["comparison"]
    assert [(r["design"], r["scenario"]) for r in rows] == [
        ("small", "base"),
        ("small-800", "base"),
    ]
    # from the run directory's null scenario; the protocol's run has none
    assert 0 <= rows[0]["type_one_error"] < 0.2
    assert rows[1]["type_one_error"] is None or math.isnan(rows[1]["type_one_error"])
    run_folder = tmp_path / "small-800"
    assert set(pd.read_parquet(run_folder / "trials.parquet")["scenario"]) == {"base"}
    assert set(pd.read_parquet(run_folder / "patients.parquet")["sim"]) == {0, 1}


def test_an_unknown_scenario_is_named_with_those_there_are(small_run, tmp_path):
    with pytest.raises(CstrialError, match=r"'nope'.*base.*null-effect"):
        compare_designs([small_run], scenario="nope", out=tmp_path)


def test_a_time_to_event_design_gets_the_schoenfeld_analytic_n(tmp_path):
    survival = ASSETS / "sample-size-tte.yaml"
    table = compare_designs([survival], n_sims=100, jobs=1, out=tmp_path).table
    assert table.iloc[0]["analytic_sample_size"] == analytic_sample_size(survival).sample_size


def test_multi_arm_summary_columns_reach_the_comparison_under_their_names():
    from cstrial.compare import MULTIARM_COLUMNS, multiarm_columns

    row = {"any_rejected": 0.6, "all_effective_rejected": 0.3, "familywise_error": float("nan"),
           "selected": 0.7, "arm_patients": 500.0, "control_patients": 700.0}  # fmt: skip
    columns = multiarm_columns(row)
    assert columns["disjunctive_power"] == 0.6 and columns["conjunctive_power"] == 0.3
    assert columns["p_selected"] == 0.7 and columns["expected_arm_patients"] == 500.0
    assert set(columns) == set(MULTIARM_COLUMNS.values())
    assert multiarm_columns({"power": 0.8}) == {}  # a design without them adds nothing


def test_compare_shows_the_multi_arm_table_for_a_multi_arm_protocol(tmp_path):
    text = (ASSETS / "multiarm.yaml").read_text()
    text = text.replace(
        "  multiplicity: dunnett", "  multiplicity: dunnett\n  selection: {rule: best}"
    )
    protocol = tmp_path / "multiarm-best.yaml"
    protocol.write_text(text)
    args = ["compare", str(protocol), "--n-sims", "200", "--scenario", "b-works", "--jobs", "1",
            "--out", str(tmp_path / "out")]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "Multi-arm operating characteristics" in result.output
    table = pd.read_parquet(tmp_path / "out" / "comparison.parquet")
    assert {"disjunctive_power", "p_selected", "familywise_error"} <= set(table.columns)
    b = table[table.comparison == "b vs control"].iloc[0]
    assert b.p_selected > 0.8 and 0 <= b.familywise_error <= 0.1
