"""Organ support in the virtual population beside its published targets (`cstrial population`)."""

from __future__ import annotations

import json

import numpy as np
from helpers import PROTOCOLS
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.disease import linear_predictor
from cstrial.disease.organ_support import MEASURES, organ_support
from cstrial.population import sample_population

runner = CliRunner()


def _rows():
    patients = sample_population(np.random.default_rng(5), 20_000)
    return {r["name"]: r for r in organ_support(patients, linear_predictor(patients))}


def test_every_organ_support_target_is_met_or_says_why_not():
    """A change to a course parameter that moves a calibrated share or duration fails here."""
    rows = _rows()
    assert len(rows) == len(MEASURES)
    missed = [
        f"{name}: AMI-CS model {r['ami_cs']:.3f} vs {r['target']} ± {r['tolerance']}"
        for name, r in rows.items()
        if r["ok"] is False and not r["note"]
    ]
    assert not missed, missed
    for name in (
        "invasive ventilation by day 30",
        "ventilation, median days (alive at day 30)",
        "renal replacement by day 30",
        "30-day mortality, RRT / no RRT",
    ):
        assert rows[name]["ok"], rows[name]


def test_the_population_command_shows_organ_support_beside_the_targets():
    result = runner.invoke(app, ["population", str(PROTOCOLS[0]), "--json", "--n", "20000"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["organ_support"]
    assert [r["name"] for r in rows] == [m.name for m in MEASURES]
    ventilation = rows[0]
    assert ventilation["target"] == 0.45 and 0.0 < ventilation["value"] < 1.0
    output = runner.invoke(app, ["population", str(PROTOCOLS[0]), "--n", "5000"]).output
    assert "Organ support by day 30" in output and "invasive ventilation" in output
