"""`cstrial calibrate` on the command line: a table or JSON, exit 2 naming what is wrong."""

from __future__ import annotations

import json

from helpers import ASSETS, SMALL
from typer.testing import CliRunner

from cstrial.cli import app

runner = CliRunner()
BAYES = ASSETS / "bayes-small.yaml"


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_calibrate_prints_the_threshold_its_error_and_se_as_json():
    result = invoke(
        "calibrate", BAYES, "--type-i-error", 0.05, "--scenario", "null-effect",
        "--n-sims", 400, "--jobs", 1, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["achieved"] <= 0.05 and 0.0 < found["threshold"] < 1.0
    assert found["se"] == (found["achieved"] * (1 - found["achieved"]) / 400) ** 0.5
    assert (found["scenario"], found["n_sims"], found["looks"]) == ("null-effect", 400, 5)


def test_calibrate_without_a_bayesian_decision_exits_2_naming_the_field():
    result = invoke("calibrate", SMALL, "--type-i-error", 0.025, "--scenario", "null-effect")
    assert result.exit_code == 2
    assert "design.decision" in result.output and "Traceback" not in result.output


def test_calibrate_names_a_bad_target_and_an_unknown_scenario():
    result = invoke("calibrate", BAYES, "--type-i-error", 1.2, "--scenario", "null-effect")
    assert result.exit_code == 2 and "--type-i-error must lie strictly" in result.output
    result = invoke("calibrate", BAYES, "--type-i-error", 0.025, "--scenario", "nope")
    assert result.exit_code == 2 and "--scenario 'nope' is not in the protocol" in result.output


def test_a_posterior_rule_under_design_efficacy_points_to_design_decision():
    path = ASSETS / "bad" / "posterior_under_efficacy.yaml"
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert "design.efficacy.posterior_probability_above" in result.output
    assert "design.decision: {type: bayesian" in result.output
