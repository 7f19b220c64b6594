"""Model parameter overrides: what a setting changes, what it refuses, and that caches see it."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from cstrial.disease import DISEASE, LATE
from cstrial.engine import laws as laws_module
from cstrial.engine.plan import plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.errors import UsageError
from cstrial.model_docs import TABLES as ALL_TABLES
from cstrial.model_parameters import DEFAULT, TABLES, ModelParameters
from cstrial.protocol import expand_scenarios, load_protocol
from cstrial.protocol.effects import HazardRatio, Il6Mediated
from cstrial.treatment import TREATMENT, hazard_course

ROOT = Path(__file__).parents[1]
TOCI = ROOT / "protocols" / "toci-amics.yaml"

# A range's source cites a publication (a year, a PMID, calibration.md) or says how it
# was set ([assumption], [derived]), or points at another row's ("as HF").
SOURCED = re.compile(
    r"\[(assumption|derived)\b|\b(19|20)\d\d\b|PMID|calibration\.md|\blabel\b|^as \w+"
)

# Parameters without a range, and why none: definitions, reference values that only centre
# a term, physiological limits, and tocilizumab's population PK (Frey 2010's typical values,
# which move the blockade's time course but not its saturation over weeks: docs/model.md).
# A new parameter without a range must be added here, deliberately.
NOT_UNCERTAIN = re.compile(
    r"_reference$|_min$|_max$|^toci_(cl_linear|v_central|q|v_peripheral|vmax|km|bsa_exponent_cl|"
    r"bsa_reference|infusion_hours)$|^late_acute_reference$"
)


def test_every_uncertain_parameter_has_a_sourced_range():
    for table in ALL_TABLES:
        for row in table.rows:
            if not row.uncertain:
                assert NOT_UNCERTAIN.search(row.name), (
                    f"{table.title}: {row.name} has no plausible range; give it one (with a "
                    "source or [assumption]) or list it in NOT_UNCERTAIN with the reason"
                )
                continue
            assert row.low <= row.value <= row.high
            assert SOURCED.search(row.range_source), (
                f"{table.title}: {row.name}'s range has no source: {row.range_source!r}"
            )


def test_the_il6_mechanism_ranges_carry_the_evidence_for_and_against_benefit():
    blockade = TREATMENT.row("blockade")
    assert (blockade.low, blockade.high) == (0.0, 1.0)  # from no benefit to full removal
    for evidence in ("RECOVERY", "0.76-0.94", "REMAP-CAP", "28.0% vs 35.8%", "ASSAIL-MI"):
        assert evidence in blockade.range_source, evidence
    # the evidence against: no benefit without corticosteroids; no difference by CRP
    assert "Shankar-Hari" in blockade.range_source and "OR 1.09" in blockade.range_source
    assert "no difference in effect by CRP" in blockade.range_source
    floor = TREATMENT.row("il6_blockade_floor")
    assert floor.uncertain and "[assumption]" in floor.source
    assert DISEASE.row("beta_il6").uncertain
    doc = (ROOT / "docs" / "model.md").read_text()
    assert "The enrichment gain is the mechanism's assumption" in doc


def test_no_override_is_the_documented_model():
    assert ModelParameters.of({}) == DEFAULT
    for kind, table in TABLES.items():
        assert DEFAULT.table(kind) is table


def test_an_override_changes_that_value_only():
    model = ModelParameters.of({"beta_il6": 0.2, "p_scai_c": 0.5})
    assert model.disease["beta_il6"] == 0.2
    assert model.population["p_scai_c"] == 0.5
    for row in DISEASE.rows:
        if row.name != "beta_il6":
            assert model.disease[row.name] == row.value
    assert model.late is LATE and model.treatment is TREATMENT
    assert model.disease.row("beta_il6").source == DISEASE.row("beta_il6").source
    # picklable and equal after the trip: workers are separate processes
    assert pickle.loads(pickle.dumps(model)) == model


def test_overridden_strength_and_floor_move_the_mechanism():
    h30 = np.full(3, 0.5)
    il6 = np.array([50.0, 300.0, 3000.0])
    effect = Il6Mediated(model="il6-mediated", blockade=0.7, delay_hours=0)

    def risk(model):
        return hazard_course(effect, h30, il6, 30.0, model=model).risk(30.0)

    base = risk(None)
    assert base[0] == pytest.approx(1 - np.exp(-0.5))  # below the floor: no benefit
    stronger = risk(ModelParameters.of({"beta_il6": 0.55}))
    assert np.all(stronger[1:] < base[1:]) and stronger[0] == base[0]
    lower_floor = risk(ModelParameters.of({"il6_blockade_floor": 35.0}))
    assert np.all(lower_floor < base)


def test_blockade_overrides_active_mechanism_arms_only():
    model = ModelParameters.of({"blockade": 0.3})
    arm = Il6Mediated(model="il6-mediated", blockade=0.7, delay_hours=6)
    assert model.effect(arm).blockade == 0.3
    null = Il6Mediated(model="il6-mediated", blockade=0.0, delay_hours=6)
    assert model.effect(null) is null  # a null scenario stays null
    ratio = HazardRatio(model="hazard-ratio", value=0.8)
    assert model.effect(ratio) is ratio
    assert model.effect(None) is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"beta_il7": 0.3}, "not a model parameter"),
        ({"p_male": 1.3}, "proportion"),
        ({"p_scai_c": 0.7}, "must be below 1"),
        ({"rho_severity_il6": 1.2}, "correlation"),
        ({"il6_sd_log": 0.0}, "positive"),
        ({"beta_il6": "strong"}, "must be a number"),
        ({"beta_il6": float("nan")}, "finite"),
    ],
)
def test_impossible_overrides_are_refused_with_the_reason(values, message):
    with pytest.raises(UsageError, match=message) as caught:
        ModelParameters.of(values)
    assert caught.value.exit_code == 2


def test_laws_cache_is_keyed_by_the_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("CSTRIAL_CACHE_DIR", str(tmp_path))
    args = ((("etiology", ("AMI",)),), ()), (None,), None, None, (), 30.0, None, 1e-3
    default = laws_module._cache_path((*args, DEFAULT))
    one = laws_module._cache_path((*args, ModelParameters.of({"beta_il6": 0.2})))
    two = laws_module._cache_path((*args, ModelParameters.of({"beta_il6": 0.25})))
    assert len({default, one, two}) == 3


def test_a_plan_carries_its_overrides_and_their_laws(tmp_path, monkeypatch):
    monkeypatch.setenv("CSTRIAL_CACHE_DIR", str(tmp_path))
    scenario = expand_scenarios(load_protocol(TOCI))[0]
    base = plan_scenario(scenario, 1, law_tolerance=1e-3)
    model = ModelParameters.of({"blockade": 1.0})
    full = plan_scenario(scenario, 1, model=model, law_tolerance=1e-3)
    assert full.model == model and base.model == DEFAULT
    assert full.effects[1].blockade == 1.0
    # full blockade: a larger true effect, the same control arm (same population, same laws)
    assert full.comparisons[0].true_effect < base.comparisons[0].true_effect
    assert full.comparisons[0].control_risk == base.comparisons[0].control_risk
    # read back from the on-disk cache: the same laws
    laws_module._laws.cache_clear()
    again = plan_scenario(scenario, 1, model=model, law_tolerance=1e-3)
    assert again.comparisons[0].true_effect == full.comparisons[0].true_effect


def test_the_patient_level_sampler_simulates_the_overridden_model(tmp_path, monkeypatch):
    """Virtual patients drawn under an override die at the rate the override's laws give
    (not the documented model's): the override reaches the workers' patient-level path."""
    monkeypatch.setenv("CSTRIAL_CACHE_DIR", str(tmp_path))
    protocol = load_protocol(ROOT / "tests" / "assets" / "small.yaml")
    patients = protocol.model_copy(
        update={"simulation": protocol.simulation.model_copy(update={"sampler": "patients"})}
    )
    scenario = expand_scenarios(patients)[0]
    model = ModelParameters.of({"log_h30_scai_e": 1.45, "p_scai_c": 0.35, "p_scai_d": 0.45})
    plan = plan_scenario(scenario, 5, model=model)
    default = plan_scenario(scenario, 5)
    assert plan.sampler == "patients"
    expected = plan.comparisons[0].control_risk
    assert expected > default.comparisons[0].control_risk + 0.05
    tally = simulate_chunk(pickle.loads(pickle.dumps(plan)), 0, 0, 250, 1).tallies[0]
    observed = tally.deaths_control / tally.enrolled_control
    se = np.sqrt(expected * (1 - expected) / tally.enrolled_control)
    assert abs(observed - expected) < 4 * se, (observed, expected, se)


def test_run_with_a_parameter_records_it_and_moves_the_control_rate(tmp_path, monkeypatch):
    """`cstrial run --parameter`: a what-if on the model, recorded in the manifest."""
    from typer.testing import CliRunner

    from cstrial.cli import app

    monkeypatch.setenv("CSTRIAL_CACHE_DIR", str(tmp_path / "laws"))
    small = ROOT / "tests" / "assets" / "small.yaml"
    common = ["run", str(small), "--n-sims", "50", "--jobs", "1", "--scenario", "base", "--json"]
    runner = CliRunner()
    base = runner.invoke(app, [*common, "--out", str(tmp_path / "base")])
    higher = runner.invoke(
        app, [*common, "--out", str(tmp_path / "e"), "--parameter", "log_h30_scai_e=1.45"]
    )
    assert base.exit_code == 0 and higher.exit_code == 0, higher.output
    rate = [json.loads(r.output)["summary"][0]["true_control_rate"] for r in (base, higher)]
    assert rate[1] > rate[0] + 0.01  # stage E's deaths rise
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    assert manifest["model_overrides"] == {"base": {"log_h30_scai_e": 1.45}}
    titles = set(manifest["parameters"])
    assert {t.title for t in TABLES.values()} <= titles
    blockade = next(
        r for rows in manifest["parameters"].values() for r in rows if r["name"] == "blockade"
    )
    assert blockade["low"] == 0.0 and blockade["range_source"]
    bad = runner.invoke(app, [*common, "--parameter", "beta_il6"])
    assert bad.exit_code == 2 and "NAME=VALUE" in bad.output
