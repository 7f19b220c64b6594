"""Adaptive enrichment on a time-to-event primary against rpact 3.3.4's
getSimulationEnrichmentSurvival (the binary counterpart is test_adaptive_rpact.py).

The design: 1,600 patients, 30-day death by log-rank, the subgroup S (IL-6 >= 200,
prevalence 0.4 here) and its complement R with the same control risk (constant hazard
over 30 days, no deaths after: proportional hazards within each subset); interim at 150
of 300 planned deaths (`planned_events`, `final_analysis: events`, so deaths drive both
looks), inverse-normal combination with O'Brien-Fleming-type bounds, closed test with
the Simes intersection, epsilon selection. rpact is given each subset's prevalence,
hazard ratio and control risk (`make_input.py` -> `input.json` -> `generate.R` ->
`rpact.json`; CI never runs R).

rpact does not simulate patients: each stage's deaths are split between the selected
subsets in fixed proportions (prevalence x event probability, `piControls`), and each
subset's stage log-rank is drawn as normal, N(log HR sqrt(D/4), 1); F's is the deaths-
weighted sum of the subsets' (a stratified statistic). cstrial enrols patients, whose
deaths (random in number per subset) trigger the looks, and tests F by the unstratified
log-rank; with the same control risk in S and R the two F statistics have the same law
to first order. Compared: the rejection of H_S, H_F, either (at the interim and
overall), the selection probabilities and the expected deaths (rpact's convention, as
for binary: a stage 2 unless both hypotheses were rejected at the interim), within 4
Monte Carlo SE.

rpact's `typeOfSelection = "epsilon"` compares the estimates 1/HR; cstrial's `epsilon`
compares -log HR (with epsilon 0.1 F is kept 2-3 points more often by cstrial, over 3
MC SE). generate.R therefore gives rpact cstrial's rule as a `selectPopulationsFunction`
on log(effectVector). After selecting S only, cstrial's final look still counts the
deaths of every enrolled patient, so the stage-1 complement patients who die after the
interim take about 2 of stage 2's 150 deaths from S (rpact gives S all 150): H_S's power
is under 1 point lower, within Monte Carlo error (docs/adaptive.md).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_adaptive import ENRICHMENT, _plan, _protocol, _run, constant_laws

HERE = Path(__file__).parent / "rpact_enrich_tte"
N_TRIALS = 4000

# control 30-day risk 0.3 in S and R; treatment risks give the hazard ratios
SCENARIOS = {
    "global-null": {"risks": {"subgroup": (0.3, 0.3), "complement": (0.3, 0.3)}, "epsilon": 0.1},
    "subgroup-only": {
        "risks": {"subgroup": (0.3, 1 - 0.7**0.7), "complement": (0.3, 0.3)},
        "epsilon": 0.1,
    },
    "everywhere-both-selected": {
        "risks": {"subgroup": (0.3, 1 - 0.7**0.75), "complement": (0.3, 1 - 0.7**0.75)},
        "epsilon": 5.0,  # the largest cstrial takes: both always selected
    },
}
PREVALENCE = 0.4


def enrichment_tte_plan(case):
    settings = {
        "subgroup": {"il6_pg_ml": {"min": 200}},
        "selection": "epsilon",
        "epsilon": case["epsilon"],
        "intersection": "simes",
    }
    design = {
        "enrichment": settings,
        "sample_size": 1600,
        "planned_events": 300,
        "final_analysis": "events",
    }
    protocol = _protocol(ENRICHMENT, design)
    primary = {
        "name": "death_30d",
        "type": "time-to-event",
        "horizon_days": 30,
        "analysis": "log-rank",
    }
    endpoints = protocol.endpoints.model_copy(
        update={"primary": protocol.endpoints.primary.model_validate(primary)}
    )
    protocol = protocol.model_copy(update={"endpoints": endpoints})
    plan = _plan(protocol, scenario=2)  # none: the laws are replaced
    laws = constant_laws(case["risks"], PREVALENCE)
    return replace(plan, laws=laws, subgroup_share=laws.subgroup_share)


def _rpact():
    return json.loads((HERE / "rpact.json").read_text())["scenarios"]


def _close_p(ours: float, theirs: float, n_ours: int, n_theirs: int, what: str) -> None:
    p = (ours * n_ours + theirs * n_theirs) / (n_ours + n_theirs)
    se = np.sqrt(p * (1 - p) * (1 / n_ours + 1 / n_theirs))
    assert abs(ours - theirs) <= 4 * se + 1e-9, (what, ours, theirs, se)


def _trials(name):
    plan = enrichment_tte_plan(SCENARIOS[name])
    assert plan.final_at_events and list(plan.look_events) == [150, 300]
    trials = _run(plan, N_TRIALS, chunk=7)
    full = trials[trials.comparison == plan.comparisons[0].label].reset_index(drop=True)
    sub = trials[trials.comparison == plan.comparisons[1].label].reset_index(drop=True)
    return plan, full, sub


@pytest.mark.parametrize("name", list(SCENARIOS), ids=str)
def test_tte_enrichment_agrees_with_getSimulationEnrichmentSurvival(name):
    reference = _rpact()[name]
    plan, full, sub = _trials(name)
    np.testing.assert_allclose(plan.comparisons[0].efficacy_z, reference["efficacy_z"], atol=1e-6)
    n_r = reference["iterations"]
    _close_p(full.rejected_any.mean(), reference["reject_at_least_one"], N_TRIALS, n_r, "either")
    s, f = reference["rejected_populations"]
    _close_p(full.rejected_subgroup.mean(), s, N_TRIALS, n_r, "H_S")
    _close_p(full.rejected_full.mean(), f, N_TRIALS, n_r, "H_F")
    first_s = ((sub.stop_look == 1) & (sub.decision == "efficacy")).mean()
    first_f = ((full.stop_look == 1) & (full.decision == "efficacy")).mean()
    _close_p(first_s, reference["rejected_per_stage"][0][0], N_TRIALS, n_r, "H_S at the interim")
    _close_p(first_f, reference["rejected_per_stage"][0][1], N_TRIALS, n_r, "H_F at the interim")
    # selection by rpact's convention: a trial goes on unless both hypotheses were
    # rejected at the interim (test_adaptive_rpact.py)
    both_first = (full.stop_look == 1) & (sub.stop_look == 1)
    both_first &= (full.decision == "efficacy") & (sub.decision == "efficacy")
    went_on = ~both_first
    with_s = went_on & (full.select_subgroup | full.select_both)
    with_f = went_on & (full.select_full | full.select_both)
    _close_p(with_s.mean(), reference["selected_stage_2"][0], N_TRIALS, n_r, "S selected")
    _close_p(with_f.mean(), reference["selected_stage_2"][1], N_TRIALS, n_r, "F selected")
    events = 150 + 150 * went_on
    sd = max(events.std(), 150 * np.sqrt(1 / N_TRIALS))
    se = sd * np.sqrt(1 / N_TRIALS + 1 / n_r)
    assert abs(events.mean() - reference["expected_events"]) <= 4 * se, "expected deaths"
    # the look's deaths: every trial that went on had its 300 (ties on the day aside)
    assert (np.abs(full.final_events[full.stop_look == 2] - 300) <= 2).all()
