"""Multi-arm trials with a shared control (`cstrial.engine.multiarm`): strong control of the
familywise error with and without arm selection, arms that stop enrolling when dropped,
and the per-arm and per-trial columns.

The protocol is tests/assets/multiarm.yaml: two constant risk-ratio arms against one
control (40% mortality), 900 patients, three looks, the counts sampler. Scenarios:
`base` is the global null, `a-works` and `b-works` the partial nulls, `both-work`.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import ASSETS

from cstrial.engine.multiarm import SelectionRule, multiarm_design
from cstrial.engine.plan import ScenarioPlan, plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.errors import ProtocolError
from cstrial.protocol import expand_scenarios, load_protocol
from cstrial.protocol.models import Futility
from cstrial.protocol.multiarm import Selection

MULTIARM = ASSETS / "multiarm.yaml"
ALPHA = 0.025
NULLS = ("base", "a-works", "b-works")  # the global null and each partial null
SELECTIONS = {
    "none": None,
    "best": {"rule": "best", "measure": "estimate", "keep_total": False},
    "epsilon": {"rule": "epsilon", "epsilon": 0.5},
    "threshold": {"rule": "threshold", "threshold": 0.0},
}
# every method with interims; hochberg is a single-analysis test (one look, below)
METHODS = ("bonferroni", "dunnett", "holm", "simes")


@functools.cache
def _protocol_plans(looks: tuple[float, ...]) -> dict[str, tuple]:
    """Each scenario's (protocol, plan), planned once with the default design."""
    protocol = load_protocol(MULTIARM)
    protocol = protocol.model_copy(
        update={
            "design": protocol.design.model_copy(
                update={"looks": list(looks), "multiplicity": "bonferroni"}
            )
        }
    )
    return {s.name: (s.protocol, plan_scenario(s, 16)) for s in expand_scenarios(protocol)}


def _plan(
    scenario: str,
    method: str,
    selection: dict | None = None,
    looks: tuple[float, ...] = (0.34, 0.67, 1.0),
    futility: dict | None = None,
) -> ScenarioPlan:
    protocol, plan = _protocol_plans(looks)[scenario]
    update = {
        "multiplicity": method,
        "selection": None if selection is None else Selection.model_validate(selection),
        "futility": None if futility is None else Futility.model_validate(futility),
    }
    protocol = protocol.model_copy(update={"design": protocol.design.model_copy(update=update)})
    return replace(plan, design=multiarm_design(protocol, plan))


def _run(plan: ScenarioPlan, n: int, chunk: int = 5000) -> pd.DataFrame:
    parts = []
    for k, first in enumerate(range(0, n, chunk)):
        size = min(chunk, n - first)
        parts.append(simulate_chunk(plan, k, first, size, plan.n_looks).trials.to_pandas())
    return pd.concat(parts, ignore_index=True)


def _familywise_error(trials: pd.DataFrame, plan: ScenarioPlan) -> float:
    nulls = [c.label for c in plan.comparisons if c.treatment_risk == c.control_risk]
    rejected = trials[trials.comparison.isin(nulls) & (trials.decision == "efficacy")]
    return rejected.sim.nunique() / trials.sim.nunique()


def _within_4_se_above(observed: float, n: int, what: str) -> None:
    se = np.sqrt(ALPHA * (1 - ALPHA) / n)
    assert observed < ALPHA + 4 * se, f"{what}: familywise error {observed:.4f} > alpha + 4 SE"


def test_familywise_error_is_controlled_with_selection_fast():
    """The default run's small version of the slow strong-control tests below."""
    plan = _plan("base", "dunnett", SELECTIONS["best"])
    trials = _run(plan, 4000)
    _within_4_se_above(_familywise_error(trials, plan), 4000, "dunnett, best, global null")
    assert trials.familywise_error.mean() == pytest.approx(_familywise_error(trials, plan))


@pytest.mark.slow
@pytest.mark.parametrize("selection", list(SELECTIONS))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario", NULLS)
def test_familywise_error_is_at_most_alpha_under_every_null(scenario, method, selection):
    plan = _plan(scenario, method, SELECTIONS[selection])
    n = 20_000
    fwe = _familywise_error(_run(plan, n), plan)
    _within_4_se_above(fwe, n, f"{method}, selection {selection}, {scenario}")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", NULLS)
def test_familywise_error_is_controlled_with_futility_per_arm(scenario):
    futility = {"spending": "lan-demets-obrien-fleming", "binding": False}
    plan = _plan(scenario, "dunnett", SELECTIONS["epsilon"], futility=futility)
    fwe = _familywise_error(_run(plan, 20_000), plan)
    _within_4_se_above(fwe, 20_000, f"dunnett, epsilon, futility, {scenario}")


@pytest.mark.slow
@pytest.mark.parametrize("method", ("hochberg", *METHODS))
@pytest.mark.parametrize("scenario", NULLS)
def test_single_analysis_methods_control_the_familywise_error(scenario, method):
    plan = _plan(scenario, method, looks=(1.0,))
    fwe = _familywise_error(_run(plan, 20_000, 10_000), plan)
    _within_4_se_above(fwe, 20_000, f"{method}, one look, {scenario}")


@pytest.mark.slow
def test_group_sequential_dunnett_is_not_conservative_under_the_global_null():
    plan = _plan("base", "dunnett")
    n = 20_000
    fwe = _familywise_error(_run(plan, n), plan)
    se = np.sqrt(ALPHA * (1 - ALPHA) / n)
    assert abs(fwe - ALPHA) < 4 * se, f"familywise error {fwe:.4f}, alpha {ALPHA}"


def test_single_step_dunnett_bounds_are_the_group_sequential_dunnett_bounds():
    from cstrial.design.multiplicity import (
        dunnett_group_sequential_bounds,
        many_to_one_correlation,
    )

    plan = _plan("base", "dunnett", looks=(0.5, 1.0))
    expected = dunnett_group_sequential_bounds(
        [0.5, 1.0], ALPHA, many_to_one_correlation([1, 1, 1])
    ).efficacy_z
    assert plan.design.efficacy_z == pytest.approx(expected, abs=1e-12)
    assert not plan.design.closed


def test_a_dropped_arm_stops_enrolling_and_its_share_goes_to_the_open_arms():
    plan = _plan("a-works", "dunnett", {"rule": "best", "keep_total": True})
    trials = _run(plan, 600)
    b = trials[trials.comparison == "b vs control"]
    a = trials[trials.comparison == "a vs control"]
    dropped = b[b.decision == "dropped"]
    assert len(dropped) > 400  # b, which does nothing, is mostly dropped at the first interim
    first = dropped[dropped.stop_look == 1]
    assert (~first.in_stage_2).all() and (~first.selected).all()
    assert (first.arm_patients == first.n_treatment).all()
    assert (first.stage_stopped == 1).all()
    # keep_total: the trials that ran to the end randomised all 900 patients
    ran = a[(a.sim.isin(first.sim)) & a.in_stage_3]
    total = (
        ran.control_patients
        + ran.arm_patients
        + first.set_index("sim").loc[ran.sim].arm_patients.to_numpy()
    )
    assert (total == 900).all()


def test_without_keep_total_a_trial_shrinks_by_the_dropped_arms_share():
    plan = _plan("a-works", "dunnett", {"rule": "best", "keep_total": False})
    trials = _run(plan, 600)
    a = trials[trials.comparison == "a vs control"].set_index("sim")
    b = trials[trials.comparison == "b vs control"].set_index("sim")
    ends = a.in_stage_3 & (b.stop_look == 1) & (b.decision == "dropped")
    total = (a.control_patients + a.arm_patients + b.arm_patients)[ends]
    # stage 1: 306 for three arms; stages 2 and 3: 297 each for two of the three arms
    assert (total == 306 + 2 * 198).all()


def test_the_trial_columns_are_the_same_on_every_arm_of_a_trial():
    plan = _plan("both-work", "simes", SELECTIONS["epsilon"])
    trials = _run(plan, 400)
    per_trial = trials.groupby("sim")[["any_rejected", "all_effective_rejected"]].nunique()
    assert (per_trial == 1).all().all()
    rejected = trials.groupby("sim").apply(lambda t: (t.decision == "efficacy").any())
    assert (trials.groupby("sim").any_rejected.first() == rejected).all()
    assert trials.familywise_error.isna().all()  # no null arm in this scenario
    assert (trials.rejected == (trials.decision == "efficacy")).all()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"rule": "all"}, [[1, 1, 1], [1, 1, 0]]),
        ({"rule": "best"}, [[0, 1, 0], [1, 0, 0]]),
        ({"rule": "epsilon", "epsilon": 0.5}, [[1, 1, 0], [1, 0, 0]]),
        ({"rule": "threshold", "threshold": 0.25}, [[0, 1, 0], [1, 0, 0]]),
        ({"rule": "best", "threshold": 5.0}, [[0, 0, 0], [0, 0, 0]]),
    ],
)
def test_selection_rules_follow_rpacts_type_of_selection(rule, expected):
    spec = Selection.model_validate(rule)
    selection = SelectionRule(spec.rule, spec.epsilon, spec.threshold, spec.measure, True)
    measure = np.array([[0.2, 0.6, -1.0], [2.0, 0.1, 3.0]])
    open_ = np.array([[True, True, True], [True, True, False]])
    assert (selection.keep(measure, open_) == np.array(expected, bool)).all()


def test_best_breaks_exact_ties_by_the_looks_data_evenly():
    selection = SelectionRule("best", None, None, "z", True)
    measure = np.array([[1.0, 1.0, 0.2]] * 4 + [[0.5, 2.0, 2.0]])
    open_ = np.ones((5, 3), dtype=bool)
    kept = selection.keep(measure, open_, np.array([0, 1, 2, 3, 7]))
    assert kept.sum(axis=1).tolist() == [1] * 5
    assert kept[:4, 0].tolist() == [True, False, True, False]  # key even: the first tied
    assert kept[4].tolist() == [False, False, True]


def test_hochberg_with_interims_asks_for_simes_or_holm():
    with pytest.raises(ProtocolError, match="hochberg is a step-up test of one final analysis"):
        _plan("base", "hochberg")


def test_default_bonferroni_keeps_the_default_design():
    protocol, plan = _protocol_plans((0.34, 0.67, 1.0))["base"]
    assert plan.design is None
    assert multiarm_design(protocol, plan) is None


def _graph_plan(testing, looks=(1.0,), scenario="a-works"):
    protocol = load_protocol(MULTIARM)
    secondary = {"name": "death_90d", "type": "time-to-event", "horizon_days": 90,
                 "analysis": "log-rank"}  # fmt: skip
    endpoints = protocol.endpoints.model_validate(
        {
            "primary": protocol.endpoints.primary.model_dump(),
            "secondary": [secondary],
            "testing": testing,
        }
    )
    design = protocol.design.model_copy(update={"looks": list(looks), "multiplicity": "bonferroni"})
    protocol = protocol.model_copy(update={"endpoints": endpoints, "design": design})
    chosen = next(s for s in expand_scenarios(protocol) if s.name == scenario)
    return plan_scenario(chosen, 16)


def test_fixed_sequence_is_the_graph_that_passes_each_primarys_alpha_to_its_secondary():
    # hypotheses: primary a, primary b, death_90d a, death_90d b
    graph = {"weights": [0.5, 0.5, 0, 0],
             "transitions": [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]}  # fmt: skip
    by_graph = _run(_graph_plan({"graph": graph}), 300, 300)
    in_sequence = _run(_graph_plan("fixed-sequence"), 300, 300)
    assert (by_graph.z_look_1.to_numpy() == in_sequence.z_look_1.to_numpy()).all()  # same trials
    assert (by_graph.graph_rejected == (by_graph.decision == "efficacy")).all()
    assert (by_graph.death_90d_graph_rejected == in_sequence.death_90d_reject).all()
    assert by_graph.death_90d_graph_rejected.sum() > 20  # the claim is not vacuous


def test_a_graph_passes_a_rejected_primarys_alpha_to_the_other_arm():
    # Holm over the two primaries: each at alpha/2, the whole alpha to the other once one falls
    graph = {"weights": [0.5, 0.5, 0, 0],
             "transitions": [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]}  # fmt: skip
    trials = _run(_graph_plan({"graph": graph}, scenario="both-work"), 300, 300)
    wide = trials.pivot(index="sim", columns="comparison", values="z_look_1")
    z = wide.to_numpy()
    from scipy.stats import norm

    holm = (z.max(axis=1) >= norm.ppf(1 - ALPHA / 2))[:, None] & (z >= norm.ppf(1 - ALPHA))
    holm |= z >= norm.ppf(1 - ALPHA / 2)
    rejected = trials.pivot(index="sim", columns="comparison", values="graph_rejected")
    assert (rejected.to_numpy() == holm).all()


def test_a_time_to_event_trial_selects_on_the_log_rank_and_tests_its_increments():
    protocol = load_protocol(MULTIARM)
    data = protocol.as_written()
    data["endpoints"]["primary"] = {"name": "death_90d", "type": "time-to-event",
                                    "horizon_days": 90, "analysis": "log-rank"}  # fmt: skip
    data["design"].update({"selection": {"rule": "best"}, "looks": [0.5, 1.0]})
    protocol = type(protocol).model_validate(data)
    plan = plan_scenario(next(s for s in expand_scenarios(protocol) if s.name == "a-works"), 16)
    assert plan.sampler == "events" and plan.design.closed
    trials = _run(plan, 400)
    per_trial = trials.groupby("sim")
    assert (per_trial.selected.sum() == 1).all()  # best: one arm goes on
    dropped = trials[trials.decision == "dropped"]
    assert (~dropped.in_stage_2).all() and (dropped.stop_look == 1).all()
    # a (risk ratio 0.7) is selected and rejected far more often than b (no effect)
    a = trials[trials.comparison == "a vs control"]
    assert a.selected.mean() > 0.9 and a.rejected.mean() > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("scenario", NULLS)
def test_a_group_sequential_graph_controls_the_familywise_error(scenario):
    """Holm's graph over the two primaries, three looks (Maurer & Bretz 2013)."""
    protocol, plan = _protocol_plans((0.34, 0.67, 1.0))[scenario]
    data = protocol.as_written()
    data["design"].pop("multiplicity", None)
    data["design"]["looks"] = [0.34, 0.67, 1.0]
    data["endpoints"]["testing"] = {"graph": {"weights": [0.5, 0.5],
                                              "transitions": [[0, 1], [1, 0]]}}  # fmt: skip
    data.pop("scenarios", None)
    graph = type(protocol).model_validate(data)
    from cstrial.engine.multiarm import graph_design

    plan = replace(plan, design=graph_design(graph, plan))
    trials = _run(plan, 20_000)
    nulls = [c.label for c in plan.comparisons if c.treatment_risk == c.control_risk]
    fwe = trials[trials.comparison.isin(nulls)].groupby("sim").graph_rejected.any().mean()
    _within_4_se_above(fwe, 20_000, f"Holm graph, three looks, {scenario}")
    assert trials.familywise_error.mean() == pytest.approx(fwe)
