"""`cstrial sensitivity`: power under the model's parameter uncertainty.

The claims: a parameter whose range has zero width moves nothing; widening ranges widens
the joint power interval; the SCAI stage-C intercept moves the control rate the way the
`cstrial population` table (mortality by stage, stage shares) says it should; a protocol
that fixes `control_mortality_30d` keeps it at every setting; joint draws are a Latin
hypercube; the command line writes what it says.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.disease.course import COURSE
from cstrial.disease.describe import describe_population
from cstrial.model_parameters import parameter
from cstrial.protocol import load_protocol
from cstrial.sensitivity import (
    ParameterRange,
    analysed_parameters,
    joint_draws,
    read_sensitivity,
    report_hook,
    report_section,
    sensitivity_analysis,
    tornado_png,
)

ROOT = Path(__file__).parents[1]
TOCI = ROOT / "protocols" / "toci-amics.yaml"
CONSTANT = ROOT / "protocols" / "constant-effects.yaml"

runner = CliRunner()


@pytest.fixture(autouse=True)
def _law_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CSTRIAL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "laws"))


def test_a_zero_width_range_moves_nothing():
    result = sensitivity_analysis(
        TOCI, n_sims=300, draws=3, parameters=["beta_il6"], ranges={"beta_il6": (0.35, 0.35)}
    )
    rows = result.rows
    assert len(rows) == 1 + 2 + 3
    for column in ("power", "control_rate", "true_effect"):
        assert rows[column].nunique() == 1, column  # identical, not merely close
    joint = result.joint().iloc[0]
    assert joint["power_low"] == joint["power_high"] == joint["power_base"]


def test_widening_the_ranges_widens_the_joint_power_interval():
    def interval(scale: float) -> float:
        ranges = {}
        for name in ("blockade", "il6_blockade_floor"):
            row = parameter(name)
            ranges[name] = (
                row.value - scale * (row.value - row.low),
                row.value + scale * (row.high - row.value),
            )
        result = sensitivity_analysis(
            TOCI,
            n_sims=400,
            draws=8,
            parameters=list(ranges),
            ranges=ranges,
            one_at_a_time=False,
        )
        joint = result.joint().iloc[0]
        assert joint["power_low"] <= joint["power_median"] <= joint["power_high"]
        return joint["power_high"] - joint["power_low"]

    narrow, wide = interval(0.25), interval(1.0)
    # the power's MC SE at 400 trials is <= 0.025; the widths differ by far more
    assert wide > narrow + 0.1


def test_the_stage_c_intercept_moves_the_control_rate_as_the_population_table_says():
    """`cstrial population` gives the enrolled stage-C share and its 30-day mortality; raising
    stage C's log hazard by d multiplies its hazards by e^d, so the control rate should move
    by about share_C * ((1 - (1 - m_C)^(e^d)) - m_C) (exact for a homogeneous stage; the
    spread of hazards within the stage makes the true change somewhat smaller)."""
    description = describe_population(load_protocol(TOCI), n=100_000)
    share = description["summary"]["scai_stage"]["C"]
    mortality = description["mortality"]["control_30d_by_scai_stage"]["C"]
    result = sensitivity_analysis(TOCI, n_sims=200, draws=0, parameters=["log_h30_scai_c"])
    row = result.one_at_a_time().iloc[0]
    base = result.rows.query("analysis == 'base'")["control_rate"].iloc[0]
    # the laws' control rate is the population table's (reference sample SE ~0.001)
    assert base == pytest.approx(description["mortality"]["control_30d"], abs=0.005)
    intercept = parameter("log_h30_scai_c")
    for end, observed in (("low", row["control_rate_low"]), ("high", row["control_rate_high"])):
        d = getattr(intercept, end) - intercept.value
        predicted = share * ((1 - (1 - mortality) ** np.exp(d)) - mortality)
        change = observed - base
        assert np.sign(change) == np.sign(d)
        assert 0.6 * abs(predicted) <= abs(change) <= 1.05 * abs(predicted), (
            end,
            change,
            predicted,
        )


@pytest.mark.slow
def test_a_fixed_control_mortality_is_kept_at_every_setting():
    result = sensitivity_analysis(
        CONSTANT, n_sims=100, draws=2, parameters=["log_h30_scai_c", "beta_il6"]
    )
    assert np.allclose(result.rows["control_rate"], 0.40, atol=2e-3)
    # the risk-ratio arm's risk is RR times the control rate, whatever the model
    rr = result.rows[result.rows["comparison"] == "rr085 vs control"]
    assert np.allclose(rr["treatment_rate"], 0.34, atol=2e-3)


def test_joint_draws_are_a_latin_hypercube_over_the_ranges():
    ranges = [
        ParameterRange("beta_il6", "disease", 0.35, 0.15, 0.55, "", ""),
        ParameterRange("blockade", "treatment", 0.7, 0.0, 1.0, "", ""),
    ]
    draws = joint_draws(ranges, 10, seed=3)
    assert len(draws) == 10
    for r in ranges:
        values = np.array([d[r.name] for d in draws])
        strata = np.floor((values - r.low) / (r.high - r.low) * 10).astype(int)
        assert sorted(strata) == list(range(10)), r.name  # one draw in each tenth
    assert draws == joint_draws(ranges, 10, seed=3)  # reproducible from the seed


def test_the_tied_stage_shares_keep_stage_e():
    ranges = analysed_parameters(load_protocol(TOCI), ["p_scai_c", "p_scai_d"])
    draws = joint_draws(ranges, 5, seed=1)
    assert all(set(d) == {"p_scai_c"} for d in draws)  # D follows C, it is not drawn


def test_default_parameters_follow_the_arms():
    """The IL-6 mechanism's parameters are analysed for a mechanism arm, not for constant
    effects; the PK/PD table only for pkpd arms."""
    toci = {r.name for r in analysed_parameters(load_protocol(TOCI))}
    constant = {r.name for r in analysed_parameters(load_protocol(CONSTANT))}
    assert {"blockade", "il6_blockade_floor", "beta_il6", "p_scai_c"} <= toci
    assert not {"blockade", "il6_blockade_floor"} & constant
    assert not any(name.startswith(("toci_", "anakinra_")) for name in toci)
    # an endpoint built from the organ-support course brings the course's parameters
    endpoints = {
        r.name
        for r in analysed_parameters(load_protocol(ROOT / "protocols" / "toci-endpoints.yaml"))
    }
    course = {row.name for row in COURSE.rows if row.uncertain}
    assert course and course <= endpoints and not course & toci


def test_cli_json_parquet_tornado_and_report_hook(tmp_path):
    out = tmp_path / "sensitivity"  # where the report hook looks in a run folder
    result = runner.invoke(
        app,
        [
            "sensitivity",
            str(TOCI),
            "--parameter",
            "blockade",
            "--parameter",
            "il6_blockade_floor",
            "--n-sims",
            "100",
            "--draws",
            "3",
            "--json",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["scenario"] == "base" and payload["n_sims"] == 100
    assert [r["name"] for r in payload["ranges"]] == ["blockade", "il6_blockade_floor"]
    assert {r["parameter"] for r in payload["one_at_a_time"]} == {"blockade", "il6_blockade_floor"}
    blockade = next(r for r in payload["one_at_a_time"] if r["parameter"] == "blockade")
    assert blockade["true_effect_low"] == 0.0  # no blockade: no effect, exactly
    assert blockade["power_low"] < blockade["power_base"] < blockade["power_high"]
    assert payload["joint"][0]["draws"] == 3

    table = pq.read_table(out / "sensitivity.parquet")
    assert table.num_rows == 1 + 4 + 3
    assert {"analysis", "parameter", "end", "value", "power", "control_rate", "true_effect"} <= set(
        table.column_names
    )
    assert (out / "tornado.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((out / "sensitivity.json").read_text())
    assert manifest["ranges"][0]["range_source"].startswith("from no benefit")
    assert any("blockade" in [r["name"] for r in rows] for rows in manifest["parameters"].values())

    section = read_sensitivity(out)
    assert section is not None and section["tornado_png"].endswith("tornado.png")
    assert section["joint"] == payload["joint"]
    assert report_hook(tmp_path) == section  # RUN/sensitivity/, the default place
    assert report_hook(tmp_path / "nowhere") is None


def test_cli_list_and_bad_options():
    listed = runner.invoke(app, ["sensitivity", str(TOCI), "--list", "--json"])
    assert listed.exit_code == 0, listed.output
    names = [r["name"] for r in json.loads(listed.output)]
    assert "blockade" in names and "log_h30_scai_c" in names
    for args, message in (
        (["--range", "beta_il6=0.5"], "NAME=LOW:HIGH"),
        (["--range", "beta_il6=0.5:0.1"], "low <= high"),
        (["--parameter", "beta_il7"], "not a model parameter"),
        (["--parameter", "il6_reference"], "no plausible range"),
    ):
        result = runner.invoke(app, ["sensitivity", str(TOCI), "--list", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


@pytest.mark.slow
def test_report_section_and_tornado_from_data():
    result = sensitivity_analysis(TOCI, n_sims=50, draws=2, parameters=["blockade"])
    section = report_section(result)
    assert section["tornado"][0]["bars"][0]["parameter"] == "blockade"
    assert tornado_png(section)[:4] == b"\x89PNG"
