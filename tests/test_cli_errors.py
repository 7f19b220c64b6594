"""One error boundary: an invalid option exits 2 with one line naming it, never a traceback.

The library raises `UsageError` with its own parameter names (`n_sims`); the CLI
names the option as typed (`--n-sims`). Runs that fail for other reasons exit 1.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from helpers import SMALL
from typer.testing import CliRunner

from cstrial import __version__
from cstrial.cli import app
from cstrial.engine import run
from cstrial.errors import CstrialError, UsageError

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", SMALL, "--n-sims", "0"], "--n-sims must be between 1 and"),
        (["run", SMALL, "--jobs", "0"], "--jobs must be a positive number of workers"),
        (["run", SMALL, "--backend", "foo"], "--backend must be one of loky, dask, found 'foo'"),
        (
            ["run", SMALL, "--seed", "-1"],
            "--seed must be a whole number from 0 to 9,223,372,036,854,775,807, found -1",
        ),
        (["run", SMALL, "--save-patients", "-2"], "--save-patients must be 0 or more"),
        (["run", SMALL, "--scenario", "nope"], "--scenario 'nope' is not in the protocol"),
        (["sample-size", SMALL, "--power", "1.5", "--analytic"], "--power must lie strictly"),
        (["sample-size", SMALL, "--power", "1.5"], "--power must lie strictly"),
        (["population", SMALL, "--n", "0"], "--n must be at least 1, found 0"),
        (["boundaries", "--looks", "0.5,0.4,1"], "--looks must increase strictly"),
        (["boundaries", "--looks", "a,b"], "--looks must be comma-separated numbers"),
        (["boundaries", "--efficacy", "obf"], "--efficacy names an unknown spending family"),
        (["boundaries", "--alpha", "0.7"], "--alpha (one-sided) must lie in (0, 0.5)"),
        (
            ["boundaries", "--efficacy", "kim-demets", "--efficacy-parameter", "-1"],
            "--efficacy-parameter kim-demets needs rho between 0.4 and 8, found -1",
        ),
    ],
)
def test_an_invalid_option_exits_2_naming_the_option(args, says, tmp_path):
    result = invoke(*args, *(["--out", tmp_path / "x"] if args[0] == "run" else []))
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_the_library_names_its_parameters_not_the_options(tmp_path):
    with pytest.raises(UsageError) as raised:
        run(SMALL, n_sims=0, out=tmp_path / "x")
    assert raised.value.parameter == "n_sims"
    assert str(raised.value).startswith("n_sims must be between 1 and")
    assert raised.value.exit_code == 2


def test_repeating_scenario_runs_each_named_scenario(tmp_path):
    result = invoke(
        "run", SMALL, "--n-sims", 50, "--out", tmp_path / "r", "--json",
        "--scenario", "base", "--scenario", "null-effect",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    scenarios = [row["scenario"] for row in json.loads(result.output)["summary"]]
    assert scenarios == ["base", "null-effect"]
    one = invoke(
        "run", SMALL, "--n-sims", 50, "--out", tmp_path / "s", "--json", "--scenario", "null-effect"
    )  # fmt: skip
    assert [row["scenario"] for row in json.loads(one.output)["summary"]] == ["null-effect"]


def test_version_prints_the_package_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"cstrial {__version__}"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    return run(SMALL, n_sims=100, jobs=1, out=tmp_path_factory.mktemp("run") / "small").out


def test_report_on_a_full_disk_is_a_clear_error_not_a_traceback(finished_run, monkeypatch):
    real = Path.write_bytes

    def full(self, data):
        if self.name.endswith(".png") or "report.html" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    result = invoke("report", finished_run)
    assert result.exit_code == 1, result.output
    assert "No space left on device. Free some disk space" in result.output
    assert "Traceback" not in result.output
    assert not list(finished_run.glob(".report.html.tmp-*"))


def test_a_failed_run_exits_1_with_the_library_message(write_protocol, tmp_path, monkeypatch):
    from cstrial.engine import parallel

    def broken(*args, **kwargs):
        raise CstrialError("the chunk could not be simulated")

    monkeypatch.setattr(parallel, "simulate_chunk", broken)
    result = invoke("run", write_protocol(), "--n-sims", 10, "--jobs", 1, "--out", tmp_path / "x")
    assert result.exit_code == 1
    # off a terminal, progress lines come first on stderr; the message is the last line
    assert result.output.strip().splitlines()[-1] == "the chunk could not be simulated"
    assert "Traceback" not in result.output
