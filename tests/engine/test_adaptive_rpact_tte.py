"""Deaths re-estimation on a time-to-event primary against rpact 3.3.4's
getSimulationSurvival (the binary counterpart is test_adaptive_rpact.py).

rpact simulated the trial of `rpact_ssr_tte/ssr-tte.yaml` (1200 patients at 40 a month,
180-day death by log-rank, inverse-normal combination with an interim at 100 deaths and
200 planned, O'Brien-Fleming-type bounds; stage 2 re-estimated for conditional power 0.8
within [100, 300] deaths; `final_analysis: events`) with `getDesignInverseNormal` and
`conditionalPower`, `minNumberOfEventsPerStage`, `maxNumberOfEventsPerStage`,
`plannedEvents`, from each arm's marginal survival law in the cstrial model given as
piecewise-exponential hazards (`rpact_final_events/make_input.py tests/engine/rpact_ssr_tte` → `input.json` → `generate.R` →
`rpact.json`, 20,000 iterations per scenario; CI never runs R). Compared: the overall
and the interim rejection, the expected deaths analysed, the mean re-estimated stage-2
deaths and the expected patients enrolled, within 4 Monte Carlo SE of the two
simulations together.

The sample size is large against the deaths (520–580 expected by everyone's horizon,
at most 400 asked for), so cstrial's limit, re-estimated deaths capped by the enrolled
patients, does not bind: every trial reaches its target before its last patient is
followed up.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cstrial.engine.plan import plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.protocol import expand_scenarios, load_protocol

HERE = Path(__file__).parent / "rpact_ssr_tte"
RPACT = json.loads((HERE / "rpact.json").read_text())["scenarios"]
N_TRIALS = 4000


def _within(ours: float, theirs: float, sd: float, n_ours: int, n_theirs: int, what: str):
    se = sd * np.sqrt(1 / n_ours + 1 / n_theirs)
    assert abs(ours - theirs) <= 4 * se + 1e-9, (what, ours, theirs, se)


def _within_p(ours: float, theirs: float, n_ours: int, n_theirs: int, what: str):
    p = (ours * n_ours + theirs * n_theirs) / (n_ours + n_theirs)
    _within(ours, theirs, np.sqrt(p * (1 - p)), n_ours, n_theirs, what)


def _scenarios():
    protocol = load_protocol(HERE / "ssr-tte.yaml")
    return {s.name: s for s in expand_scenarios(protocol)}


@pytest.mark.parametrize("name", list(RPACT), ids=str)
def test_deaths_reestimation_agrees_with_getSimulationSurvival(name):
    reference = RPACT[name]
    plan = plan_scenario(_scenarios()[name], 11)
    assert plan.final_at_events and list(plan.look_events) == reference["planned_events"]
    np.testing.assert_allclose(plan.comparisons[0].efficacy_z, reference["efficacy_z"], atol=1e-6)
    trials = simulate_chunk(plan, 0, 0, N_TRIALS, plan.n_looks).trials.to_pandas()
    n_r = reference["iterations"]

    # the design keeps cstrial's cap out of play: every trial that went on analysed its
    # re-estimated deaths (ties on the look's day aside) before enrolment ended
    went_on = trials.stop_look == 2
    deaths = trials.events_control + trials.events_treatment
    target = plan.look_events[0] + trials.reestimated_events
    assert (np.abs(deaths[went_on] - target[went_on]) <= 2).all()
    assert trials.n_enrolled.max() < plan.sample_size
    assert reference["events_not_achieved"] == 0

    reject = (trials.decision == "efficacy").mean()
    _within_p(reject, reference["overall_reject"], N_TRIALS, n_r, "overall rejection")
    first = ((trials.stop_look == 1) & (trials.decision == "efficacy")).mean()
    _within_p(first, reference["reject_per_stage"][0], N_TRIALS, n_r, "interim rejection")
    events = trials.final_events
    sd = max(events.std(), reference["events_sd"])
    _within(events.mean(), reference["expected_events"], sd, N_TRIALS, n_r, "expected deaths")
    stage_2 = trials.reestimated_events[went_on]
    sd = max(stage_2.std(), reference["stage_2_events_sd"])
    n_2 = int(went_on.sum())
    _within(
        stage_2.mean(),
        reference["stage_2_events_mean"],
        sd,
        n_2,
        reference["stage_2_trials"],
        "stage-2 deaths",
    )
    # patients enrolled when the trial stopped (at the interim or the final analysis)
    if "subjects_sd" in reference:
        n = trials.n_enrolled
        sd = max(n.std(), reference["subjects_sd"])
        _within(n.mean(), reference["expected_subjects"], sd, N_TRIALS, n_r, "patients")
