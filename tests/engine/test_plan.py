"""A scenario's plan: arms in simulation order, bounds at the looks' information, true risks."""

from __future__ import annotations

import math

import pytest
from helpers import ROOT

from cstrial.design.boundaries import design_boundaries
from cstrial.design.sample_size import analytic_for_rates
from cstrial.engine.plan import plan_scenario
from cstrial.protocol import expand_scenarios, load_protocol

THREE_ARMS = ROOT / "protocols" / "anti-inflammatory-3arm.yaml"


def _plan(path, overrides=None, scenario=0):
    protocol = load_protocol(path)
    if overrides:
        protocol = protocol.model_copy(update=overrides)
    return protocol, plan_scenario(expand_scenarios(protocol)[scenario], 7)


def test_control_is_arm_zero_and_comparisons_keep_the_protocols_order():
    protocol, plan = _plan(THREE_ARMS)
    assert plan.arm_names[0] == protocol.control_arm.name
    assert plan.arm_names[1:] == tuple(a.name for a in protocol.active_arms)
    assert [c.arm_index for c in plan.comparisons] == list(range(1, len(plan.arm_names)))
    assert [c.label for c in plan.comparisons] == [
        f"{a.name} vs {protocol.control_arm.name}" for a in protocol.active_arms
    ]


def test_alpha_is_split_over_the_active_arms_and_bounds_use_the_looks_patients():
    protocol, plan = _plan(THREE_ARMS)
    alpha = protocol.design.alpha / len(protocol.active_arms)
    n = protocol.design.sample_size
    assert plan.look_patients == tuple(
        n if t >= 1 else math.ceil(t * n - 1e-9) for t in protocol.design.looks
    )
    expected = design_boundaries(protocol.design, [k / n for k in plan.look_patients], alpha)
    for c in plan.comparisons:
        assert c.alpha == pytest.approx(alpha)
        assert c.efficacy_z == pytest.approx(tuple(expected.efficacy_z))


def test_time_to_event_looks_follow_the_planned_deaths(write_protocol):
    path = write_protocol(
        {
            "endpoints.primary": {
                "name": "death",
                "type": "time-to-event",
                "horizon_days": 90,
                "analysis": "log-rank",
            },
            "design.looks": [0.5, 1.0],
        }
    )
    protocol, plan = _plan(path)
    shares = [a.allocation for a in protocol.arms]
    risks = (plan.comparisons[0].control_risk, plan.comparisons[0].treatment_risk)
    expected = (
        protocol.design.sample_size
        * sum(s * r for s, r in zip(shares, risks, strict=True))
        / sum(shares)
    )
    assert plan.planned_events == round(expected)
    assert plan.look_events == (math.ceil(0.5 * plan.planned_events - 1e-9), plan.planned_events)
    assert plan.look_fractions == tuple(d / plan.planned_events for d in plan.look_events)


def test_the_analytic_sample_size_is_the_closed_form_at_the_true_risks(write_protocol):
    protocol, plan = _plan(write_protocol())
    c = plan.comparisons[0]
    closed = analytic_for_rates(
        protocol, c.control_risk, c.treatment_risk, power=protocol.design.power, alpha=c.alpha
    )
    assert c.analytic_sample_size == closed.sample_size
    # no benefit, no sample size: NaN, not a number that looks like an answer
    _, null = _plan(write_protocol(), scenario=1)
    assert math.isnan(null.comparisons[0].analytic_sample_size)


NULL_ENDPOINTS = [
    ({"name": "d30", "type": "binary", "horizon_days": 30, "analysis": "two-proportion"}, 0.0),
    ({"name": "tte", "type": "time-to-event", "horizon_days": 90, "analysis": "log-rank"}, 1.0),
    (
        {
            "name": "daoh",
            "type": "days-alive-out-of-hospital",
            "horizon_days": 30,
            "analysis": "mann-whitney",
        },
        0.5,
    ),
    (
        {
            "name": "wr",
            "type": "hierarchical",
            "horizon_days": 30,
            "analysis": "win-ratio",
            "components": ["death", "renal_replacement_or_mcs_escalation"],
        },
        1.0,
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "null"), NULL_ENDPOINTS, ids=[e["analysis"] for e, _ in NULL_ENDPOINTS]
)
@pytest.mark.parametrize(
    "effect",
    [
        {"model": "risk-ratio", "value": 1.0},
        {"model": "il6-mediated", "blockade": 0.0, "delay_hours": 6},
        {"model": "pkpd", "drug": "tocilizumab", "dose_mg_per_kg": 8, "blockade": 0.0},
    ],
    ids=["risk-ratio-1", "il6-blockade-0", "pkpd-blockade-0"],
)
def test_identical_arms_have_an_exactly_null_true_effect(write_protocol, endpoint, null, effect):
    """Arms that differ in nothing have the null effect exactly, by symmetry: a risk
    difference of 0, a hazard ratio and win ratio of 1, a probabilistic index of 0.5 —
    never a reference simulation's Monte Carlo error (the win ratio read 1.0175)."""
    path = write_protocol({"endpoints.primary": endpoint, "arms.1.effect": effect, "scenarios": []})
    _, plan = _plan(path)
    c = plan.comparisons[0]
    assert c.true_effect == null
    assert c.treatment_risk == c.control_risk
