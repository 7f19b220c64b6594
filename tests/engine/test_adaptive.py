"""Adaptive designs (cstrial.engine.adaptive): the inverse-normal combination test keeps the
type I error when an interim re-sizes the trial or restricts it to a subgroup; the naive
pooled z with the same re-estimation does not.

Familywise error: at most alpha + 4 Monte Carlo SE (fixed seeds). The default run keeps
a few thousand trials; the `slow` versions run 40,000.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from helpers import ASSETS, ROOT

from cstrial.engine.laws import OutcomeLaws
from cstrial.engine.plan import ScenarioPlan, plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.errors import ProtocolError
from cstrial.protocol import expand_scenarios, load_protocol
from cstrial.protocol.vocabulary import MODEL_HORIZON_DAYS

SSR = ASSETS / "ssr.yaml"
SSR_TTE = ASSETS / "ssr-tte.yaml"
ENRICHMENT = ROOT / "protocols" / "toci-il6-adaptive-enrichment.yaml"
PROMISING = ROOT / "protocols" / "toci-promising-zone.yaml"
ALPHA = 0.025


def _protocol(path, design=None, **top):
    protocol = load_protocol(path)
    if design:
        protocol = protocol.model_copy(
            update={"design": protocol.design.model_validate({**_design(protocol), **design})}
        )
    return protocol


def _design(protocol):
    return protocol.design.model_dump(mode="json", exclude_none=True)


def _plan(protocol, scenario=0) -> ScenarioPlan:
    return plan_scenario(expand_scenarios(protocol)[scenario], 7)


def constant_laws(risks: dict[str, tuple[float, float]], prevalence: float | None = None):
    """Laws with no covariates: each stratum's 30-day risk under (control, treatment); with a
    subgroup, strata (complement, subgroup) at the subgroup's `prevalence`."""
    days = np.array([0.0, 30.0, MODEL_HORIZON_DAYS])
    names = ["all"] if prevalence is None else ["complement", "subgroup"]
    survival = np.array([[[1.0, 1 - r, 1 - r] for r in risks[name]] for name in names], dtype=float)
    share = np.array([1.0]) if prevalence is None else np.array([1 - prevalence, prevalence])
    return OutcomeLaws(
        days=days,
        survival=survival,
        prevalence=share,
        strata=None,
        eligible_fraction=0.5,
        baseline_shift=0.0,
        error=0.0,
        points=0,
        subgroup=prevalence is not None,
    )


def _run(plan: ScenarioPlan, n: int, chunk: int = 0):
    result = simulate_chunk(plan, chunk, 0, n, plan.n_looks)
    return result.trials.to_pandas()


def _fwer_bound(n: int) -> float:
    return ALPHA + 4 * np.sqrt(ALPHA * (1 - ALPHA) / n)


# ------------------------------------------------------------------ re-estimation


def _ssr_plan(min_per_stage=200, max_per_stage=800, risks=(0.4, 0.4), rule=None):
    design = {
        "reestimation": rule
        or {
            "rule": "conditional-power",
            "target": 0.8,
            "min_per_stage": min_per_stage,
            "max_per_stage": max_per_stage,
        }
    }
    plan = _plan(_protocol(SSR, design))
    return replace(plan, laws=constant_laws({"all": risks}))


@pytest.mark.parametrize(
    "rule",
    [
        None,
        {
            "rule": "promising-zone",
            "target": 0.9,
            "min_per_stage": 200,
            "max_per_stage": 800,
            "cp_min": 0.3,
            "cp_max": 0.9,
        },
    ],
    ids=["conditional-power", "promising-zone"],
)
def test_reestimated_trials_keep_alpha_by_the_combination_test(rule):
    n = 4000
    trials = _run(_ssr_plan(rule=rule), n)
    assert (trials.decision == "efficacy").mean() <= _fwer_bound(n)
    assert trials.final_n.notna().all()


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [(200, 800), (50, 800)])
def test_reestimated_trials_keep_alpha_with_40000_trials(sizes):
    n = 40000
    trials = _run(_ssr_plan(*sizes), n)
    assert (trials.decision == "efficacy").mean() <= _fwer_bound(n)


def _naive_rejections(trials, plan) -> np.ndarray:
    """The pooled z of all patients against the same group-sequential bounds."""
    bounds = plan.comparisons[0].efficacy_z
    z1, z2 = trials.z_look_1.to_numpy(), trials.z_look_2.to_numpy()
    return (z1 >= bounds[0]) | (np.nan_to_num(z2, nan=-np.inf) >= bounds[1])


@pytest.mark.slow
def test_the_naive_pooled_z_with_the_same_reestimation_inflates_alpha():
    # a small second stage when stage 1 is promising, a large one when it is not:
    # the pooled z then over-weights the promising first stages
    n = 40000
    plan = _ssr_plan(50, 800)
    trials = _run(plan, n)
    naive = _naive_rejections(trials, plan).mean()
    combination = (trials.decision == "efficacy").mean()
    assert naive > _fwer_bound(n)
    assert combination <= _fwer_bound(n)


def test_the_naive_pooled_z_inflates_alpha_small():
    n = 6000
    plan = _ssr_plan(50, 800)
    trials = _run(plan, n)
    naive = _naive_rejections(trials, plan).mean()
    assert naive > _fwer_bound(n)


def test_the_stage_after_the_interim_has_the_reestimated_size_within_its_limits():
    plan = _ssr_plan(200, 800, risks=(0.4, 0.34))
    trials = _run(plan, 2000)
    went_on = trials.stop_look == 2
    n2 = trials.n_control + trials.n_treatment - 200
    assert (n2[went_on] == trials.reestimated_n[went_on]).all()
    assert trials.reestimated_n.between(200, 800).all()
    assert (trials.final_n[went_on] == 200 + trials.reestimated_n[went_on]).all()
    assert (trials.final_n[~went_on] == 200).all()
    # both limits are reached, and sizes between them
    assert {200, 800} <= set(trials.reestimated_n) and trials.reestimated_n.nunique() > 10


def test_reestimated_deaths_keep_alpha_and_set_the_final_look():
    protocol = _protocol(SSR_TTE)
    plan = _plan(protocol, scenario=1)  # null effect
    trials = _run(plan, 2000)
    assert (trials.decision == "efficacy").mean() <= _fwer_bound(2000)
    went_on = trials.stop_look == 2
    deaths = trials.events_control + trials.events_treatment
    first = plan.look_events[0]
    # the final look comes when the re-estimated deaths are reached (or everyone is
    # followed up): a few more deaths can fall on the look's day
    target = first + trials.reestimated_events
    assert (deaths[went_on] >= np.minimum(target[went_on], deaths[went_on])).all()
    assert np.mean(np.abs(deaths[went_on] - target[went_on]) <= 3) > 0.9


# ------------------------------------------------------------------ enrichment


def _enrichment_plan(risks, prevalence=0.33, **enrichment):
    settings = {
        "subgroup": {"il6_pg_ml": {"min": 200}},
        "selection": "epsilon",
        "epsilon": 0.05,
        "intersection": "simes",
        **enrichment,
    }
    if settings["selection"] != "epsilon":
        settings.pop("epsilon")
    # 500 patients per stage, as the rpact references
    protocol = _protocol(ENRICHMENT, {"enrichment": settings, "sample_size": 1000})
    plan = _plan(protocol, scenario=2)  # none: the laws are replaced
    laws = constant_laws(risks, prevalence)
    return replace(plan, laws=laws, subgroup_share=laws.subgroup_share, sampler="counts")


def _enrichment_fwer(plan, n, chunk=0):
    trials = _run(plan, n, chunk)
    full = trials[trials.comparison == plan.comparisons[0].label]
    return full


GLOBAL_NULL = {"complement": (0.31, 0.31), "subgroup": (0.60, 0.60)}
# no effect in the subgroup, an effect in its complement: H_S is true
SUBGROUP_NULL = {"complement": (0.31, 0.24), "subgroup": (0.60, 0.60)}


@pytest.mark.parametrize("intersection", ["simes", "bonferroni", "spiessens-debois"])
def test_enrichment_keeps_the_familywise_error_under_the_global_null(intersection):
    n = 3000
    full = _enrichment_fwer(_enrichment_plan(GLOBAL_NULL, intersection=intersection), n)
    assert full.rejected_any.mean() <= _fwer_bound(n)


def test_enrichment_keeps_the_familywise_error_when_only_the_complement_benefits():
    n = 3000
    full = _enrichment_fwer(_enrichment_plan(SUBGROUP_NULL, selection="best"), n)
    assert full.rejected_subgroup.mean() <= _fwer_bound(n)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("risks", "selection", "intersection", "true_null"),
    [
        (GLOBAL_NULL, "epsilon", "simes", "rejected_any"),
        (GLOBAL_NULL, "best", "spiessens-debois", "rejected_any"),
        (GLOBAL_NULL, "best", "bonferroni", "rejected_any"),
        (SUBGROUP_NULL, "best", "simes", "rejected_subgroup"),
        (SUBGROUP_NULL, "epsilon", "spiessens-debois", "rejected_subgroup"),
    ],
)
def test_enrichment_familywise_error_with_40000_trials(risks, selection, intersection, true_null):
    n = 40000
    plan = _enrichment_plan(risks, selection=selection, intersection=intersection)
    full = _enrichment_fwer(plan, n)
    assert full[true_null].mean() <= _fwer_bound(n)


def test_enriched_stages_enrol_the_selected_population_and_screen_more():
    plan = _enrichment_plan({"complement": (0.31, 0.31), "subgroup": (0.60, 0.48)})
    trials = _run(plan, 2000)
    full = trials[trials.comparison == plan.comparisons[0].label].reset_index()
    sub = trials[trials.comparison == plan.comparisons[1].label].reset_index()
    only_s = full.select_subgroup.to_numpy(bool)
    assert 0.3 < only_s.mean() < 0.95
    # selecting S drops H_F at the interim; S then enrols only subgroup members
    assert full.decision[only_s].isin(["dropped", "efficacy"]).all()
    assert (full.decision[only_s] == "dropped").mean() > 0.95
    went_on = only_s & (sub.stop_look == 2).to_numpy()
    n_sub = (sub.n_control + sub.n_treatment)[went_on]
    assert (n_sub >= 500).all()  # all 500 of stage 2, and stage 1's members
    stage_1_members = n_sub - 500
    assert abs(stage_1_members.mean() / 500 - 0.33) < 4 * np.sqrt(0.33 * 0.67 / 500 / went_on.sum())
    # subgroup prevalence is random per stage (binomial), as in a real trial
    assert stage_1_members.std() > 5
    screened = full.n_screened[went_on]
    assert (screened > full.n_enrolled[went_on] / plan.eligible_fraction).all()
    # the selection probabilities add up to one
    chosen = full[["select_full", "select_subgroup", "select_both", "select_none"]]
    assert (chosen.sum(axis=1)[full.stop_look > 1] == 1).all()


@pytest.mark.slow  # the model's laws with the subgroup: a minute
def test_the_mechanism_puts_the_benefit_in_the_subgroup():
    plan = _plan(load_protocol(ENRICHMENT))  # il6-mediated
    full, sub = plan.comparisons
    assert sub.control_risk - sub.treatment_risk > 2 * (full.control_risk - full.treatment_risk)


# ------------------------------------------------------------------ bad input


def _errors(path, design):
    with pytest.raises(ProtocolError) as info:
        plan = _protocol(path, design)
        _plan(plan)
    return str(info.value)


def test_a_subgroup_of_everyone_or_no_one_is_an_error():
    message = _errors(ENRICHMENT, {"enrichment": {"subgroup": {"age": {"min": 0}}}})
    assert "design.enrichment.subgroup" in message and "everyone" in message
    message = _errors(ENRICHMENT, {"enrichment": {"subgroup": {"age": {"min": 95}}}})
    assert "no one" in message


@pytest.mark.parametrize(
    ("design", "words"),
    [
        (
            {"reestimation": {"min_per_stage": 900, "max_per_stage": 800}},
            "min_per_stage (900) must not exceed max_per_stage (800)",
        ),
        ({"looks": [1.0]}, "needs an interim"),
        ({"combination": None}, "needs design.combination: inverse-normal"),
        (
            {"reestimation": {"rule": "promising-zone", "min_per_stage": 2, "max_per_stage": 8}},
            "cp_min",
        ),
    ],
)
def test_bad_reestimation_is_reported_with_its_field(design, words):
    protocol = load_protocol(SSR)
    data = {**_design(protocol), **design}
    if data.get("combination") is None:
        data.pop("combination", None)
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        protocol.design.model_validate(data)
    assert words in str(info.value)


def test_the_review_protocol_with_an_old_field_name_exits_2_naming_the_field():
    path = ASSETS / "try-ssr.yaml"  # a copy of /work/shared/reviews/.../try-ssr.yaml
    run = subprocess.run(
        [sys.executable, "-m", "cstrial", "validate", str(path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""},
    )
    assert run.returncode == 2
    assert "design.sample_size_reestimation" in run.stdout + run.stderr
    assert "'reestimation'" in run.stdout + run.stderr


# ------------------------------------------------------------------ report tables


def test_the_report_tables_give_selection_power_and_the_final_n_distribution():
    from cstrial.report.adaptive import adaptive_tables

    enriched = _enrichment_plan({"complement": (0.31, 0.31), "subgroup": (0.60, 0.48)})
    trials = _run(enriched, 500)
    table = adaptive_tables(trials)["enrichment"].iloc[0]
    selections = ["P(full only)", "P(subgroup only)", "P(both)", "P(none: stopped)"]
    assert table[selections].sum() == pytest.approx(1.0)
    full = trials[trials.comparison == enriched.comparisons[0].label]
    assert table["P(reject either)"] == pytest.approx(full.rejected_any.mean())
    resized = _run(_ssr_plan(risks=(0.4, 0.34)), 500)
    sizes = adaptive_tables(resized)["sample_size"].iloc[0]
    assert sizes["final_n q50"] == resized.final_n.median()
    assert sizes["power"] == pytest.approx((resized.decision == "efficacy").mean())


@pytest.mark.slow  # the model's time-to-event laws with the subgroup
def test_time_to_event_enrichment_tests_log_rank_increments_and_keeps_alpha():
    protocol = load_protocol(ENRICHMENT)
    primary = {
        "name": "death_90d",
        "type": "time-to-event",
        "horizon_days": 90,
        "analysis": "log-rank",
    }
    endpoints = protocol.endpoints.model_copy(
        update={"primary": protocol.endpoints.primary.model_validate(primary)}
    )
    protocol = protocol.model_copy(update={"endpoints": endpoints})
    plan = _plan(protocol, scenario=2)  # none
    assert plan.planned_events is not None
    n = 4000
    trials = _run(plan, n)
    full = trials[trials.comparison == plan.comparisons[0].label]
    assert full.rejected_any.mean() <= _fwer_bound(n)
    chosen = full[["select_full", "select_subgroup", "select_both", "select_none"]]
    assert (chosen.sum(axis=1)[full.stop_look > 1] == 1).all()
    assert full.final_events.notna().all()
