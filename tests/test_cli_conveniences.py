"""The conveniences of issue 19: --set, power-curve, progress off a terminal, 100-column tables."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import cstrial.cli as cli
from cstrial.cli import app
from cstrial.errors import UsageError
from cstrial.power_curve import parse_over

ASSETS = Path(__file__).parent / "assets"
SMALL = ASSETS / "small.yaml"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _json(output: str) -> dict:
    return json.loads(output[output.index("{") :])


# --------------------------------------------------------------------------- --set


def test_set_changes_the_protocol_that_validate_prints():
    result = invoke("validate", SMALL, "--set", "design.sample_size=800", "--set",
                    "arms.active.effect.value=0.7", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    resolved = _json(result.output)["protocol"]
    assert "sample_size: 800" in resolved
    assert "value: 0.7" in resolved


def test_set_is_the_same_as_writing_the_value_in_the_file(write_protocol, tmp_path):
    written = write_protocol({"design.sample_size": 200})
    by_set = invoke("run", SMALL, "--set", "design.sample_size=200", "--n-sims", 20,
                    "--jobs", 1, "--out", tmp_path / "a", "--json")  # fmt: skip
    by_file = invoke("run", written, "--n-sims", 20, "--jobs", 1, "--out", tmp_path / "b", "--json")
    assert by_set.exit_code == by_file.exit_code == 0, by_set.output + by_file.output
    assert (tmp_path / "a" / "trials.parquet").read_bytes() == (
        tmp_path / "b" / "trials.parquet"
    ).read_bytes()


@pytest.mark.parametrize(
    ("setting", "phrase"),
    [
        ("design.sampel_size=800", "--set design.sampel_size: unknown field 'sampel_size'"),
        ("design.sample_size", "--set must be PATH=VALUE"),
        ("design.alpha=0.7", "design.alpha: must be a number"),
        ("arms.nobody.allocation=2", "no item named 'nobody'"),
    ],
)
def test_a_bad_set_is_an_error_naming_it(setting, phrase):
    result = invoke("validate", SMALL, "--set", setting)
    assert result.exit_code == 2, result.output
    assert phrase in result.output
    assert "Traceback" not in result.output


def test_set_reaches_sample_size_and_compare(tmp_path):
    base = _json(invoke("sample-size", SMALL, "--analytic", "--json").output)
    changed = invoke("sample-size", SMALL, "--analytic", "--json", "--set",
                     "arms.active.effect.value=0.6")  # fmt: skip
    assert changed.exit_code == 0, changed.output
    assert _json(changed.output)["sample_size"] < base["sample_size"]
    compared = invoke("compare", SMALL, "--n-sims", 20, "--jobs", 1, "--scenario", "base",
                      "--out", tmp_path / "cmp", "--set", "design.sample_size=100", "--json")  # fmt: skip
    assert compared.exit_code == 0, compared.output
    assert [row["sample_size"] for row in _json(compared.output)["comparison"]] == [100]


# --------------------------------------------------------------------------- power-curve


@pytest.mark.parametrize(
    ("text", "path", "values"),
    [
        ("design.sample_size=400:1200:100", "design.sample_size", list(range(400, 1201, 100))),
        ("design.sample_size=400:1250:100", "design.sample_size", list(range(400, 1201, 100))),
        ("arms.active.effect.value=0.6:0.8:0.1", "arms.active.effect.value", [0.6, 0.7, 0.8]),
        ("arms.active.effect.value=0.5,0.9", "arms.active.effect.value", [0.5, 0.9]),
    ],
)
def test_over_reads_a_range_or_a_list(text, path, values):
    assert parse_over(text) == (path, values)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("design.sample_size", "must be PATH=START:STOP:STEP"),
        ("design.sample_size=400:100:100", "START ≤ STOP"),
        ("design.sample_size=400:1200:0", "STEP > 0"),
        ("design.sample_size=1:1000:1", "more than 50"),
        ("design.sample_size=a:b:c", "needs numbers"),
        ("design.sample_size=400,400", "twice"),
    ],
)
def test_a_bad_over_is_a_usage_error(text, phrase):
    with pytest.raises(UsageError, match=phrase):
        parse_over(text)


def test_power_curve_gives_each_value_the_power_of_its_own_run(tmp_path):
    """Common random numbers: every value is simulated as the protocol with that value, same
    seed and streams, so each point is exactly `cstrial run --set PATH=VALUE`."""
    result = invoke("power-curve", SMALL, "--over", "design.sample_size=100,300", "--n-sims",
                    60, "--jobs", 1, "--out", tmp_path / "pc", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    curve = _json(result.output)
    assert curve["values"] == [100, 300] and curve["common_random_numbers"] is True
    for point in curve["curve"]:
        alone = invoke("run", SMALL, "--set", f"design.sample_size={point['value']}",
                       "--scenario", "base", "--n-sims", 60, "--jobs", 1,
                       "--out", tmp_path / f"run{point['value']}", "--json")  # fmt: skip
        row = _json(alone.output)["summary"][0]
        assert point["power"] == row["power"]
        assert point["power_ci_low"] <= point["power"] <= point["power_ci_high"]
    assert (tmp_path / "pc" / "power_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = pd.read_parquet(tmp_path / "pc" / "power_curve.parquet")
    assert list(saved["value"]) == [100, 300]


def test_power_curve_refuses_a_value_the_field_refuses(tmp_path):
    result = invoke("power-curve", SMALL, "--over", "design.alpha=0.025,0.6", "--n-sims", 10,
                    "--out", tmp_path / "pc")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "design.alpha = 0.6" in result.output and "design.alpha: must be" in result.output
    result = invoke("power-curve", SMALL, "--over", "design.sampel_size=1,2", "--out", tmp_path)
    assert result.exit_code == 2
    assert "--over design.sampel_size: unknown field" in result.output


# --------------------------------------------------------------------------- progress, width


def test_progress_off_a_terminal_is_a_line_per_five_percent(capsys):
    progress = cli._progress_lines("simulating")
    for done in range(0, 201):
        progress(done, 200)
    lines = capsys.readouterr().err.splitlines()
    assert 20 <= len(lines) <= 22
    assert lines[0].startswith("simulating: 0/200 chunks (0%)")
    assert lines[-1].startswith("simulating: 200/200 chunks (100%)")
    assert not any("None" in line for line in lines)


def test_a_run_off_a_terminal_reports_progress_on_stderr(tmp_path):
    result = invoke("run", SMALL, "--n-sims", 40, "--jobs", 1, "--out", tmp_path / "r")
    assert result.exit_code == 0
    assert "simulating: 0/2 chunks (0%)" in result.output
    assert "simulating: 2/2 chunks (100%)" in result.output


def test_the_run_table_fits_100_columns_without_cutting_a_number(tmp_path, monkeypatch):
    from cstrial.engine import run
    from cstrial.protocol import load_protocol

    protocol = load_protocol(
        ASSETS.parent.parent / "protocols" / "anti-inflammatory-3arm.yaml",
        {"design.sample_size": 300, "simulation.chunk_size": 20},
    )
    result = run(protocol, n_sims=20, jobs=1, out=tmp_path / "r")
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "out_console", Console(file=buffer, width=100, highlight=False))
    cli._print_summary(result)
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "…" not in text
    for row in result.summary.itertuples():
        assert f"{row.power_ci_low:.3f}-{row.power_ci_high:.3f}" in text
        assert f"{row.mean_estimate:+.4f}" in text and f"{row.true_effect:+.4f}" in text
        assert f"{row.expected_duration_months:.1f}" in text


# --------------------------------------------------------------------------- sample-size


def test_sample_size_prints_the_interval_on_the_simulated_n(tmp_path):
    fixed = ASSETS / "sample-size-rr.yaml"
    args = ["sample-size", fixed, "--power", "0.9", "--n-sims", 100, "--jobs", 1,
            "--out", tmp_path]  # fmt: skip
    shown = invoke(*args)
    assert shown.exit_code == 0, shown.output
    low, high = _json(invoke(*args, "--json").output)["sample_size_interval"]
    assert low < high
    assert f"95% interval on the simulated N (Monte Carlo error of the fitted curve): " \
        f"{low:.0f} to {high:.0f}" in shown.output  # fmt: skip


def test_compare_names_the_design_in_its_progress(tmp_path):
    result = invoke("compare", SMALL, ASSETS / "sample-size-rr.yaml", "--n-sims", 20,
                    "--jobs", 1, "--scenario", "base", "--out", tmp_path / "cmp")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "simulating small: 1/1 chunks (100%)" in result.output
    assert "simulating sample-size-rr: 1/1 chunks (100%)" in result.output
