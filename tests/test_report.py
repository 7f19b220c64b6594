"""The report: one self-contained HTML file holding every figure, for every shipped protocol."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import PROTOCOLS, SMALL
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.engine import run
from cstrial.report import write_report
from cstrial.report.figures import kaplan_meier
from cstrial.report.html import FIGURE_NAMES
from cstrial.sample_size import simulated_sample_size

ROOT = Path(__file__).parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()


def images(page: str) -> dict[str, bytes]:
    """The embedded figures of a report page, by name."""
    found = re.findall(
        r'<img alt="[^"]*" data-figure="([a-z_]+)" src="data:image/png;base64,([^"]+)"', page
    )
    return {name: base64.b64decode(data) for name, data in found}


def assert_self_contained(page: str) -> None:
    assert "<script" not in page and "<link" not in page
    assert all(
        src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]+)"', page)
    )


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=[p.stem for p in PROTOCOLS])
def test_report_renders_every_figure_for_every_shipped_protocol(protocol, tmp_path):
    out = tmp_path / protocol.stem
    run(protocol, n_sims=20, jobs=1, out=out, scenario="base", save_patients=2)
    report = write_report(out)
    page = report.path.read_text(encoding="utf-8")
    assert report.path == out / "report.html"
    assert set(report.figures) == {
        "power_by_scenario",
        "boundaries",
        "stopping",
        "kaplan_meier",
        "population",
    }
    embedded = images(page)
    assert page.count("<img ") == len(report.figures) == len(embedded)
    for name, path in report.figures.items():
        assert path == out / "figures" / f"{name}.png"
        assert embedded[name] == path.read_bytes() and path.read_bytes().startswith(PNG)
    assert_self_contained(page)
    assert f"name: {protocol.stem}" in page  # the resolved protocol
    assert report.notes == ()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "small"
    run(SMALL, n_sims=100, jobs=1, out=out)
    return out


def test_without_saved_patients_the_report_says_how_to_get_them(small_run):
    report = write_report(small_run)
    assert "kaplan_meier" not in report.figures and "population" not in report.figures
    assert any("--save-patients 50" in note for note in report.notes)
    assert "--save-patients 50" in report.path.read_text(encoding="utf-8")


def test_a_sample_size_curve_in_the_run_folder_becomes_the_power_curve(tmp_path):
    out = tmp_path / "rr"
    protocol = ROOT / "tests" / "assets" / "sample-size-rr.yaml"
    run(protocol, n_sims=50, jobs=1, out=out)
    simulated_sample_size(protocol, 0.9, n_sims=100, jobs=1, out=out / "sample_size")
    report = write_report(out)
    assert "power_curve" in report.figures and "power_by_scenario" not in report.figures
    assert "power_curve" in images(report.path.read_text(encoding="utf-8"))


def test_a_grid_over_sample_sizes_becomes_the_power_curve(write_protocol, tmp_path):
    protocol = write_protocol({"grid": {"design.sample_size": [100, 200, 300]}})
    run(protocol, n_sims=50, jobs=1, out=tmp_path / "grid")
    report = write_report(tmp_path / "grid")
    assert "power_curve" in report.figures


def test_every_figure_name_is_known():
    assert set(FIGURE_NAMES) == {
        "power_curve",
        "power_by_scenario",
        "boundaries",
        "stopping",
        "kaplan_meier",
        "population",
    }


def test_kaplan_meier_without_censoring_is_one_minus_the_cumulative_incidence():
    death_day = np.array([1.0, 2.0, 2.0, np.nan, 5.0, np.nan])
    times, survival = kaplan_meier(death_day, 30.0)
    assert times.tolist() == [0.0, 1.0, 2.0, 5.0, 30.0]
    assert survival == pytest.approx([1, 5 / 6, 3 / 6, 2 / 6, 2 / 6])


def test_kaplan_meier_with_censoring():
    # deaths at 1 and 3; one lost at 2: S(1) = 3/4, S(3) = 3/4 * 1/2
    times, survival = kaplan_meier(
        np.array([1.0, 3.0, np.nan, np.nan]), 30.0, np.array([np.nan, np.nan, 2.0, np.nan])
    )
    assert times.tolist() == [0.0, 1.0, 3.0, 30.0]
    assert survival == pytest.approx([1, 0.75, 0.375, 0.375])


def test_cli_report(small_run):
    result = runner.invoke(app, ["report", str(small_run)])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output


def test_cli_report_on_a_folder_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "has no manifest.json" in result.output


def test_the_multi_arm_table_lists_each_arm_of_multi_arm_scenarios_only():
    import pandas as pd

    from cstrial.report.multiarm import multiarm_rows

    summary = pd.DataFrame(
        {
            "scenario": ["null", "null", "other"],
            "comparison": ["a vs c", "b vs c", "a vs c"],
            "power": [0.01, 0.012, 0.8],
            "selected": [0.5, 0.5, float("nan")],
            "arm_patients": [300.0, 310.0, float("nan")],
            "control_patients": [400.0, 400.0, float("nan")],
            "any_rejected": [0.022, 0.022, float("nan")],
            "all_effective_rejected": [float("nan")] * 3,
            "familywise_error": [0.022, 0.022, float("nan")],
        }
    )
    rows = multiarm_rows(summary)
    assert [r["comparison"] for r in rows] == ["a vs c", "b vs c"]
    assert rows[0]["familywise error"] == 0.022
    assert rows[0]["conjunctive power (all arms with an effect)"] is None
    assert multiarm_rows(summary.drop(columns="any_rejected")) is None
