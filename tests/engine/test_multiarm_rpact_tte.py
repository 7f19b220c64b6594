"""Multi-arm trials with a time-to-event primary against rpact 3.3.4's
getSimulationMultiArmSurvival (the binary counterpart is test_multiarm_rpact.py).

rpact simulated the trials of `rpact_multiarm_tte/multiarm-tte.yaml` (two hazard-ratio
arms against a shared control, 180-day death by log-rank, looks at 150 and 300 deaths
in all arms, O'Brien-Fleming-type bounds, the closed test with Dunnett or Simes
intersections and inverse-normal combination, selection `all`) with
`getDesignInverseNormal` and `plannedEvents = c(150, 300)`, each arm's hazard ratio
being its marginal one in the cstrial model (`make_input.py` → `input.json` →
`generate.R` → `<case>.json`, 5,000 iterations per case; CI never runs R).

The semantics agree only in this corner (docs/multiarm.md): rpact's plannedEvents
count the events of control and every selected arm, split among the comparisons as
(ω_i + 1) / (Σω + 1), and it draws normal stage-wise log-rank statistics; cstrial
waits for the trial's deaths in all arms and computes the log-rank from simulated
death times. With no arm dropped the two looks are the same; after a drop rpact gives
the next increment to control and the selected arms only, while the dropped arm's
patients already enrolled keep dying and count towards cstrial's next look, so only
`all` is compared. Compared: per-arm
rejection (overall and at the interim), disjunctive power and expected deaths at the
trial's end, within 4 Monte Carlo SE of the difference of the two simulations.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cstrial.engine.plan import plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.protocol import expand_scenarios, load_protocol

HERE = Path(__file__).parent / "rpact_multiarm_tte"
CASES = {p.stem: json.loads(p.read_text()) for p in sorted(HERE.glob("*.json"))}
CASES.pop("input")
METHOD = {"Dunnett": "dunnett", "Simes": "simes"}


def _simulate(case: dict, n: int):
    protocol = load_protocol(HERE / "multiarm-tte.yaml")
    data = protocol.as_written()
    data["design"]["multiplicity"] = METHOD[case["test"]]
    protocol = type(protocol).model_validate(data)
    scenario = next(s for s in expand_scenarios(protocol) if s.name == case["scenario"])
    plan = plan_scenario(scenario, protocol.simulation.seed)
    assert plan.design.closed and plan.final_at_events
    assert list(plan.look_events) == case["planned_events"]
    np.testing.assert_allclose(plan.design.efficacy_z, case["critical_values"], atol=1e-3)
    parts = [
        simulate_chunk(plan, k, first, min(2000, n - first), plan.n_looks).trials.to_pandas()
        for k, first in enumerate(range(0, n, 2000))
    ]
    return plan, pd.concat(parts, ignore_index=True)


def _check(case: dict, n: int) -> None:
    plan, trials = _simulate(case, n)
    n_ref = case["iterations"]

    def close(observed, expected, what, sd=None):
        observed, expected = np.atleast_1d(observed), np.atleast_1d(expected)
        if sd is None:
            p = np.clip((observed + expected) / 2, 1e-3, 1 - 1e-3)
            sd = np.sqrt(p * (1 - p))
        se = sd * np.sqrt(1 / n_ref + 1 / n)
        assert np.all(np.abs(observed - expected) <= 4 * se), (
            f"{case['id']} {what}: cstrial {observed.round(4).tolist()}, "
            f"rpact {expected.round(4).tolist()}, 4 SE {(4 * se).round(4).tolist()}"
        )

    arms = [
        trials[trials.comparison == f"{arm} vs control"].sort_values("sim").reset_index()
        for arm in "ab"
    ]
    assert all(len(arm) == n for arm in arms)
    last = np.maximum(arms[0].stop_look, arms[1].stop_look).to_numpy()
    # none dropped: every arm enrols in stage 2 unless the trial stopped at the interim
    assert all(arm.selected.all() and (arm.in_stage_2 == (last == 2)).all() for arm in arms)
    rejected = [np.mean(arm.decision == "efficacy") for arm in arms]
    close(rejected, case["rejected"], "per-arm rejection")
    first = [np.mean((arm.decision == "efficacy") & (arm.stop_look == 1)) for arm in arms]
    close(first, np.array(case["rejected_per_stage"])[0], "per-arm rejection at the interim")
    close(arms[0].any_rejected.mean(), case["reject_at_least_one"], "disjunctive power")

    # the trial ends at the interim only if both arms were rejected there (rpact's
    # successCriterion = "all"); its looks are at exactly the planned deaths in all arms
    at_end = arms[0].stop_look == arms[1].stop_look
    deaths = arms[0].events_control + arms[0].events_treatment + arms[1].events_treatment
    looks = np.asarray(plan.look_events)
    assert (deaths[at_end].to_numpy() == looks[last[at_end] - 1]).all()
    events = looks[last - 1]
    close(np.mean(last == 1), case["early_stop"], "early stop")
    sd = max(events.std(), 1.0)
    close(events.mean(), case["expected_events"], "expected deaths", sd=sd)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_multi_arm_survival_agrees_with_rpact(case):
    _check(CASES[case], 4000)


def test_multi_arm_survival_agrees_with_rpact_fast():
    """The default run's small version: one case, 2,000 trials."""
    _check(CASES["dunnett-both-work"], 2000)


def test_the_survival_cases_cover_both_intersection_tests_and_a_global_null():
    assert {c["test"] for c in CASES.values()} == set(METHOD)
    assert any(c["scenario"] == "base" for c in CASES.values())
