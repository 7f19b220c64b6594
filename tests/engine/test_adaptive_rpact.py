"""Adaptive designs against rpact 3.3.4 (tests/engine/rpact/adaptive_reference.R made
adaptive_reference.json): constant-effect rates, no covariates, so the designs are the
same; rejection and selection probabilities and the expected N agree within 4 Monte
Carlo SE (both simulations' errors).

Differences by design, which the tolerances cover: cstrial randomises each stage in
permuted blocks, rpact splits it exactly (n_1 = ceil(n a / (1 + a))); cstrial draws the
subgroup's share of every all-comers stage (binomial), rpact fixes it at the
prevalence. Both change the variance of a stage's statistic slightly, not its law
under H0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_adaptive import _enrichment_plan, _run, _ssr_plan, constant_laws  # noqa: F401

REFERENCE = json.loads((Path(__file__).parent / "rpact" / "adaptive_reference.json").read_text())
N_TRIALS = 20000


def _close(ours: float, theirs: float, sd_ours: float, n_ours: int, n_theirs: int) -> None:
    se = np.sqrt(sd_ours**2 / n_ours + sd_ours**2 / n_theirs)
    assert abs(ours - theirs) <= 4 * se + 1e-9, (ours, theirs, se)


def _close_p(ours: float, theirs: float, n_ours: int, n_theirs: int) -> None:
    p = (ours * n_ours + theirs * n_theirs) / (n_ours + n_theirs)
    se = np.sqrt(p * (1 - p) * (1 / n_ours + 1 / n_theirs))
    assert abs(ours - theirs) <= 4 * se + 1e-9, (ours, theirs, se)


def test_the_bounds_are_rpacts():
    plan = _ssr_plan()
    assert np.allclose(plan.comparisons[0].efficacy_z, REFERENCE["critical_values"], atol=1e-6)


@pytest.mark.parametrize("case", REFERENCE["rates"], ids=lambda c: c["name"])
def test_reestimation_agrees_with_getSimulationRates(case):
    rule = None
    if case["conditional_power"] is None:  # planned stages: re-estimation keeps them
        rule = {
            "rule": "conditional-power",
            "target": 0.8,
            "min_per_stage": 200,
            "max_per_stage": 200,
        }
    plan = _ssr_plan(
        case["min_per_stage"], case["max_per_stage"], risks=(case["pi2"], case["pi1"]), rule=rule
    )
    trials = _run(plan, N_TRIALS, chunk=3)
    n_r = REFERENCE["iterations"]
    reject = (trials.decision == "efficacy").mean()
    _close_p(reject, case["reject"], N_TRIALS, n_r)
    first = (trials.stop_look == 1) & (trials.decision == "efficacy")
    _close_p(first.mean(), case["reject_per_stage"][0], N_TRIALS, n_r)
    _close(trials.final_n.mean(), case["expected_n"], trials.final_n.std(), N_TRIALS, n_r)
    went_on = trials.stop_look == 2
    stage_2 = trials.final_n[went_on] - 200
    _close(stage_2.mean(), case["stage_2_n"], stage_2.std(), int(went_on.sum()), n_r)


SELECTIONS = {"Simes": "simes", "Bonferroni": "bonferroni", "SpiessensDebois": "spiessens-debois"}


# rpact's `best` selection stops for futility the trials in which no population has a
# positive estimated effect at the interim (seen in its per-trial output, getData(), and
# not changed by `threshold` or the futility bounds); cstrial continues them with the best
# population. The `best` cases are kept in the reference data, compared for what that
# does not touch: the rejections at the interim.
EPSILON = [c for c in REFERENCE["enrichment"] if c["selection"] == "epsilon"]


def _enrichment_trials(case):
    risks = {
        "subgroup": (case["pi_control"][0], case["pi_treatment"][0]),
        "complement": (case["pi_control"][1], case["pi_treatment"][1]),
    }
    settings = {"selection": case["selection"], "intersection": SELECTIONS[case["intersection"]]}
    if case["selection"] == "epsilon":
        settings["epsilon"] = case["epsilon"]
    plan = _enrichment_plan(risks, case["prevalence"], **settings)
    trials = _run(plan, N_TRIALS, chunk=5)
    full = trials[trials.comparison == plan.comparisons[0].label].reset_index(drop=True)
    sub = trials[trials.comparison == plan.comparisons[1].label].reset_index(drop=True)
    return full, sub


@pytest.mark.parametrize("case", EPSILON, ids=lambda c: c["name"])
def test_enrichment_agrees_with_getSimulationEnrichmentRates(case):
    full, sub = _enrichment_trials(case)
    n_r = REFERENCE["enrichment_iterations"]
    _close_p(full.rejected_any.mean(), case["reject_at_least_one"], N_TRIALS, n_r)
    _close_p(full.rejected_subgroup.mean(), case["rejected_populations"][0], N_TRIALS, n_r)
    _close_p(full.rejected_full.mean(), case["rejected_populations"][1], N_TRIALS, n_r)
    # rpact stops at the interim only when every hypothesis is rejected; a trial whose
    # only selected hypothesis is already rejected enrols its second stage (cstrial
    # stops it): selection and N are compared by rpact's convention
    both_first = (full.stop_look == 1) & (sub.stop_look == 1)
    both_first &= (full.decision == "efficacy") & (sub.decision == "efficacy")
    went_on = ~both_first
    with_s = went_on & (full.select_subgroup | full.select_both)
    with_f = went_on & (full.select_full | full.select_both)
    _close_p(with_s.mean(), case["selected_stage_2"][0], N_TRIALS, n_r)
    _close_p(with_f.mean(), case["selected_stage_2"][1], N_TRIALS, n_r)
    n = 500 + 500 * went_on
    _close(n.mean(), case["expected_n"], max(n.std(), 500 * np.sqrt(1 / N_TRIALS)), N_TRIALS, n_r)
    # cstrial's own N never exceeds it
    assert (full.final_n <= n).all()


@pytest.mark.parametrize(
    "case",
    [c for c in REFERENCE["enrichment"] if c["selection"] == "best"],
    ids=lambda c: c["name"],
)
def test_enrichment_interim_rejections_agree_with_rpact_for_best_selection(case):
    full, sub = _enrichment_trials(case)
    n_r = REFERENCE["enrichment_iterations"]
    # stage 1 is the same in both (selection acts after it)
    first_s = ((sub.stop_look == 1) & (sub.decision == "efficacy")).mean()
    first_f = ((full.stop_look == 1) & (full.decision == "efficacy")).mean()
    _close_p(first_s, case["rejected_per_stage"][0][0], N_TRIALS, n_r)
    _close_p(first_f, case["rejected_per_stage"][0][1], N_TRIALS, n_r)
