"""Assurance: each trial draws its own effect from the design prior (engine/assurance.py).

A point-mass prior must reproduce the power at that value bit for bit (same seed, the
patient-level sampler both ways); a scenario that fixes the parameter keeps it; the
draws follow the prior; bad priors are named with their field.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import yaml
from helpers import SMALL

from cstrial.design.priors import DesignPrior
from cstrial.engine.plan import plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.errors import ProtocolError
from cstrial.protocol import expand_scenarios, parse_protocol

TOCILIZUMAB = {"model": "pkpd", "drug": "tocilizumab", "dose_mg_per_kg": 8, "blockade": 0.7}
PRIOR = {"tocilizumab.blockade": {"beta": [4, 3]}}
BAYESIAN = {
    "type": "bayesian",
    "prior": {"beta": [1, 1]},
    "efficacy": {"probability": 0.99},
    "futility": {"probability": 0.1},
}


LOG_RANK = {
    "name": "death_90d",
    "type": "time-to-event",
    "horizon_days": 90,
    "analysis": "log-rank",
}


def _protocol(assurance=PRIOR, sampler="auto", decision=None, primary=None):
    data = yaml.safe_load(SMALL.read_text())
    data["arms"] = [
        {"name": "control", "control": True},
        {"name": "tocilizumab", "effect": dict(TOCILIZUMAB)},
    ]
    data["design"].update({"sample_size": 200, "looks": [0.5, 1.0]})
    if assurance is not None:
        data["design"]["assurance"] = {"prior": copy.deepcopy(assurance)}
    if decision is not None:
        data["design"]["decision"] = copy.deepcopy(decision)
    data["simulation"]["sampler"] = sampler
    if primary is not None:
        data["endpoints"]["primary"] = primary
    data["scenarios"] = [{"name": "null-effect", "set": {"arms.tocilizumab.effect.blockade": 0}}]
    return parse_protocol(data)


def _plan(protocol, scenario=0, seed=3):
    return plan_scenario(expand_scenarios(protocol)[scenario], seed)


def _trials(plan, replicates=120, chunk=0):
    return simulate_chunk(plan, chunk, 0, replicates, plan.n_looks).trials.to_pandas()


@pytest.mark.parametrize("decision", [None, BAYESIAN], ids=["group-sequential", "bayesian"])
def test_a_point_mass_prior_gives_the_power_at_that_value_bit_for_bit(decision):
    assured = _plan(_protocol(decision=decision))
    point = replace(assured.assurance, prior=DesignPrior("uniform", (0.7, 0.7)))
    with_prior = _trials(replace(assured, assurance=point), chunk=2)
    fixed = _trials(_plan(_protocol(None, "patients", decision)), chunk=2)
    assert (with_prior.pop("drawn_tocilizumab_blockade") == 0.7).all()
    assert with_prior.equals(fixed)


def test_each_trial_draws_its_own_value_from_the_prior_and_its_own_stream():
    plan = _plan(_protocol())
    assert plan.sampler == "patients" and plan.assurance is not None
    assert np.isnan(plan.comparisons[0].true_effect)  # no single true effect
    draws = plan.assurance.draw(plan.seed, plan.index, 0, 20_000)
    mean, sd = 4 / 7, np.sqrt(4 * 3 / (7**2 * 8))
    assert abs(draws.mean() - mean) < 4 * sd / np.sqrt(draws.size)
    trials = _trials(plan, replicates=60)
    np.testing.assert_array_equal(trials.drawn_tocilizumab_blockade, draws[:60])
    assert trials.drawn_tocilizumab_blockade.nunique() == 60


def test_a_scenario_that_fixes_the_parameter_keeps_it():
    null = _plan(_protocol(), scenario=1)
    assert null.assurance is None and null.sampler == "counts"
    assert null.comparisons[0].true_effect == 0.0


def test_the_summary_reports_assurance_beside_power(tmp_path):
    from cstrial.engine import run

    result = run(_protocol(), n_sims=100, out=tmp_path, jobs=1)
    summary = result.summary.set_index("scenario")
    assert summary.loc["base", "assurance"] == summary.loc["base", "power"]
    assert summary.loc["base", "assurance_se"] == summary.loc["base", "power_se"]
    assert np.isnan(summary.loc["null-effect", "assurance"])


@pytest.mark.parametrize(
    ("prior", "where", "message"),
    [
        ({"control.blockade": {"beta": [4, 3]}}, "control.blockade", "is the control arm"),
        ({"tocilizumab.blockade": {"normal": [0.5, 0]}}, "prior", "must be > 0"),
        ({"tocilizumab.blockade": {"beta": [-1, 3]}}, "prior", "must be > 0"),
        ({"tocilizumab.blockade": {"normal": [0.5, 0.1]}}, "normal", "outside"),
        ({"tocilizumab.blockade": {"uniform": [0.5, 1.5]}}, "uniform", "outside"),
        ({"tocilizumab.dose": {"beta": [4, 3]}}, "tocilizumab.dose", "no parameter 'dose'"),
        ({"placebo.blockade": {"beta": [4, 3]}}, "placebo.blockade", "<arm>.<parameter>"),
        ({"tocilizumab.blockade": {"gamma": [1, 1]}}, "prior", "unknown prior family"),
    ],
)
def test_bad_assurance_priors_are_named_with_their_field(prior, where, message):
    with pytest.raises(ProtocolError) as error:
        _protocol(prior)
    text = str(error.value)
    assert "design.assurance.prior" in text and where in text and message in text, text


def test_a_point_mass_prior_gives_the_power_of_a_time_to_event_trial_bit_for_bit():
    assured = _plan(_protocol(primary=LOG_RANK))
    point = replace(assured.assurance, prior=DesignPrior("uniform", (0.7, 0.7)))
    with_prior = _trials(replace(assured, assurance=point), replicates=60)
    fixed = _trials(_plan(_protocol(None, "patients", primary=LOG_RANK)), replicates=60)
    assert (with_prior.pop("drawn_tocilizumab_blockade") == 0.7).all()
    assert with_prior.equals(fixed)


HAZARD_RATIO = {"model": "hazard-ratio", "value": 0.8}


def _ratio_protocol(assurance, sampler="auto"):
    """The arm's effect a constant hazard ratio, the prior (if any) on its `value`."""
    data = yaml.safe_load(_protocol(None, sampler).resolved_yaml())
    data["arms"][1]["effect"] = dict(HAZARD_RATIO)
    data["scenarios"] = [{"name": "null-effect", "set": {"arms.tocilizumab.effect.value": 1}}]
    if assurance is not None:
        data["design"]["assurance"] = {"prior": copy.deepcopy(assurance)}
    return parse_protocol(data)


def test_a_ratio_effects_value_takes_a_lognormal_prior_and_a_point_mass_gives_its_power():
    assured = _plan(_ratio_protocol({"tocilizumab.value": {"lognormal": [-0.22, 0.2]}}))
    assert (assured.assurance.low, assured.assurance.high) == (0.01, 100.0)
    point = replace(assured.assurance, prior=DesignPrior("uniform", (0.8, 0.8)))
    with_prior = _trials(replace(assured, assurance=point), replicates=60)
    fixed = _trials(_plan(_ratio_protocol(None, "patients")), replicates=60)
    assert (with_prior.pop("drawn_tocilizumab_value") == 0.8).all()
    assert with_prior.equals(fixed)


def test_lognormal_draws_of_a_ratio_follow_the_prior_within_its_range():
    plan = _plan(_ratio_protocol({"tocilizumab.value": {"lognormal": [-0.22, 0.2]}}))
    draws = plan.assurance.draw(plan.seed, plan.index, 0, 20_000)
    logs = np.log(draws)
    assert abs(logs.mean() + 0.22) < 4 * 0.2 / np.sqrt(draws.size)
    wide = replace(plan.assurance, prior=DesignPrior("lognormal", (0.0, 5.0)))
    clipped = wide.draw(plan.seed, plan.index, 0, 20_000)
    assert clipped.min() == 0.01 and clipped.max() == 100.0


def test_a_normal_prior_on_a_ratio_is_refused_naming_the_field():
    with pytest.raises(ProtocolError) as error:
        _ratio_protocol({"tocilizumab.value": {"normal": [0.8, 0.1]}})
    text = str(error.value)
    assert "design.assurance.prior" in text and "lognormal" in text, text
