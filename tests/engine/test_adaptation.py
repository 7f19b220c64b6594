"""The staged engine adapts at interims: what a look decides changes what later stages enrol.

A design's rule (`cstrial.engine.decide.Rule`) may close arms, re-size the next stage
per trial, or restrict it to a subgroup; the samplers must then enrol exactly that,
every sampler alike, and show the rule each stage's own patients.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pytest
from helpers import ROOT, SMALL

from cstrial.design.accrual import enrolment_months
from cstrial.engine.decide import CONTINUE, DROPPED, EFFICACY, NONE, Verdict, planned_stage
from cstrial.engine.laws import outcome_laws
from cstrial.engine.plan import ScenarioPlan, plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.engine.stages import SUBGROUP, StagePlan
from cstrial.population.eligibility import Criteria
from cstrial.population.reference import criteria_of, reference_population
from cstrial.protocol import expand_scenarios, load_protocol

THREE_ARMS = ROOT / "protocols" / "anti-inflammatory-3arm.yaml"
IL6_HIGH = Criteria(inclusion={"il6_pg_ml": (200.0, None)})


def _plan(path, sampler="auto", design=None, save_patients=0, scenario=0, **design_fields):
    protocol = load_protocol(path)
    fields = {"looks": [0.5, 1.0], **(design or {})}
    protocol = protocol.model_copy(
        update={
            "design": protocol.design.model_copy(update=fields),
            "simulation": protocol.simulation.model_copy(update={"sampler": sampler}),
        }
    )
    return plan_scenario(expand_scenarios(protocol)[scenario], 11, save_patients)


def _run(plan: ScenarioPlan, replicates=400, save_patients=0):
    result = simulate_chunk(plan, 0, 0, replicates, plan.n_looks, save_patients)
    return result.trials.to_pandas(), result


@dataclass(frozen=True)
class DropLastArm:
    """Close the last arm at the first interim, its patients going to the open arms."""

    def start(self, plan, replicates):
        return _DropRule(plan, replicates)

    def columns(self):
        return [("closed", pa.bool_())]


@dataclass
class _DropRule:
    plan: ScenarioPlan
    replicates: int

    def decide(self, look, running, seen, stage):
        comparisons = len(self.plan.comparisons)
        decision = np.full((comparisons, running.size), CONTINUE, np.int8)
        following = planned_stage(self.plan, look, stage)
        if look == 0:
            decision[-1] = DROPPED
            allocation = np.array(stage.allocation)
            allocation[:, -1] = 0
            following = following.with_allocation(allocation)
        else:
            decision[:] = np.where(seen.analyses[0].z > 1.96, EFFICACY, NONE)
        return Verdict(decision, following)

    def columns(self):
        n = self.replicates
        return [{"closed": np.zeros(n, bool)}, {"closed": np.ones(n, bool)}]


@pytest.mark.parametrize("sampler", ["auto", "patients"])
def test_a_closed_arm_enrols_no_one_after_the_interim_and_the_others_take_its_share(sampler):
    plan = replace(_plan(THREE_ARMS, sampler), design=DropLastArm())
    trials, _ = _run(plan)
    kept, closed = (trials[trials.comparison == c.label] for c in plan.comparisons)
    assert (closed.decision == "dropped").all() and (closed.stop_look == 1).all()
    assert (kept.stop_look == 2).all()
    # no dropout: every patient is in a comparison; the closed arm has only stage 1's
    total = kept.n_control.to_numpy() + kept.n_treatment.to_numpy()
    assert (total + closed.n_treatment.to_numpy() == plan.sample_size).all()
    assert closed.n_treatment.mean() == pytest.approx(plan.look_patients[0] / 3, rel=0.05)
    assert (kept.n_enrolled == plan.sample_size).all()
    assert "closed" in trials.columns


def test_a_closed_arm_of_a_time_to_event_trial_has_no_one_randomised_after_its_interim():
    plan = replace(_time_to_event_plan(), design=DropLastArm())
    trials, result = _run(plan, replicates=100, save_patients=100)
    patients = result.patients.to_pandas()
    closed = trials[trials.comparison == plan.comparisons[-1].label].set_index("sim")
    interim = patients.sim.map(closed.duration_months)
    after = patients[patients.enrolment_month > interim + 1e-9]
    before = patients[patients.enrolment_month <= interim]
    arm = plan.arm_names[-1]
    assert len(after) > 1000 and not (after.arm == arm).any()
    assert (before.arm == arm).mean() == pytest.approx(1 / 3, abs=0.03)
    # the redrawn patients share the closed arm's patients between the open arms
    assert (after.arm == plan.arm_names[0]).mean() == pytest.approx(0.5, abs=0.03)


def _time_to_event_plan() -> ScenarioPlan:
    """The 3-arm protocol with a 90-day log-rank primary, 600 patients, looks at 40% and
    100% of its deaths, 100 trials' patients saved."""
    protocol = load_protocol(THREE_ARMS)
    primary = {"name": "death", "type": "time-to-event", "horizon_days": 90, "analysis": "log-rank"}
    protocol = protocol.model_copy(
        update={
            "endpoints": protocol.endpoints.model_copy(
                update={"primary": protocol.endpoints.primary.model_validate(primary)}
            ),
            "design": protocol.design.model_copy(update={"sample_size": 600, "looks": [0.4, 1]}),
            "simulation": protocol.simulation.model_copy(update={"sampler": "patients"}),
        }
    )
    return plan_scenario(expand_scenarios(protocol)[0], 11, 100)


@dataclass(frozen=True)
class Resize:
    """A per-trial next stage: `small` patients when stage 1's z exceeds 1, else `large`;
    the stage-wise analyses recorded beside the cumulative ones."""

    small: int
    large: int

    def start(self, plan, replicates):
        return _ResizeRule(self, plan, replicates)

    def columns(self):
        return [(n, pa.float64()) for n in ("stage_2_n", "look_1_n", "look_2_n", "next")]


class _ResizeRule:
    def __init__(self, design, plan, replicates):
        self.design, self.plan = design, plan
        self.values = {n: np.full(replicates, np.nan) for n, _ in design.columns()}

    def decide(self, look, running, seen, stage):
        analysis = seen.analyses[0]
        n = analysis.n_control + analysis.n_treatment
        self.values[f"look_{look + 1}_n"][running] = n
        if look == 0:
            size = np.where(analysis.z > 1, self.design.small, self.design.large)
            self.values["next"][running] = size
            return Verdict(np.full((1, running.size), CONTINUE, np.int8), stage.with_patients(size))
        own = seen.stage_analysis(0)
        self.values["stage_2_n"][running] = own.n_control + own.n_treatment
        return Verdict(np.where(analysis.z > 1.96, EFFICACY, NONE)[None].astype(np.int8))

    def columns(self):
        return [self.values]


@pytest.mark.parametrize("sampler", ["auto", "patients"])
def test_each_trial_enrols_the_next_stage_its_rule_sized_and_sees_it_alone(sampler):
    plan = _plan(SMALL, sampler)
    months = enrolment_months(1000, plan.patients_per_month, plan.ramp_up_months)
    plan = replace(plan, design=Resize(100, 500), enrolment_months=months)
    trials, _ = _run(plan)
    assert set(trials.next) == {100.0, 500.0}  # both paths taken in one chunk
    assert (trials.n_enrolled == 200 + trials.next).all()
    assert (trials.n_control + trials.n_treatment == trials.n_enrolled).all()  # no dropout
    assert (trials.look_1_n + trials.stage_2_n == trials.look_2_n).all()
    # the final look waits for the trial's own last patient
    last = months[(200 + trials.next).astype(int) - 1] + 30 / (365.25 / 12)
    assert np.allclose(trials.duration_months, last)


@dataclass(frozen=True)
class Enrich:
    """Enrol only the subgroup after the first interim."""

    def start(self, plan, replicates):
        return _EnrichRule(plan)

    def columns(self):
        return []


@dataclass
class _EnrichRule:
    plan: ScenarioPlan

    def decide(self, look, running, seen, stage):
        decision = np.full((len(self.plan.comparisons), running.size), CONTINUE, np.int8)
        if look == 1:
            decision[:] = NONE
        following = planned_stage(self.plan, look, stage)
        following = following.with_population(np.full(running.size, SUBGROUP))
        return Verdict(decision, following)

    def columns(self):
        return [{} for _ in self.plan.comparisons]


def _enrichment_plan(sampler, save_patients=0):
    plan = _plan(SMALL, sampler, {"sample_size": 600}, save_patients)
    criteria = criteria_of(load_protocol(SMALL).population)
    laws = outcome_laws(
        criteria, plan.effects, control_mortality_30d=None, horizons=(30.0,), subgroup=IL6_HIGH
    )
    full = plan.comparisons[0]
    subgroup = replace(full, label="active vs control (IL-6 >= 200)", population=SUBGROUP)
    return replace(
        plan,
        laws=laws,
        subgroup=IL6_HIGH,
        subgroup_share=laws.subgroup_share,
        comparisons=(full, subgroup),
        design=Enrich(),
    )


def test_the_subgroups_laws_give_its_share_of_the_enrolled():
    criteria = criteria_of(load_protocol(SMALL).population)
    laws = outcome_laws(criteria, (None,), horizons=(30.0,), subgroup=IL6_HIGH)
    reference = reference_population(criteria)
    share = np.mean(reference["il6_pg_ml"] >= 200)
    assert laws.subgroup_share == pytest.approx(share, abs=4 * np.sqrt(share * (1 - share) / 2e5))
    # members die more: IL-6 is prognostic
    risk = laws.risk(30.0)[:, 0]
    assert risk[1] > risk[0]


@pytest.mark.parametrize("sampler", ["auto", "patients"])
def test_an_enriched_stage_enrols_only_the_subgroup_and_screens_more(sampler):
    plan = _enrichment_plan(sampler)
    trials, _ = _run(plan)
    full, sub = (trials[trials.comparison == c.label].reset_index() for c in plan.comparisons)
    n_full = full.n_control + full.n_treatment
    n_sub = sub.n_control + sub.n_treatment
    assert (n_full == 600).all()
    # stage 1 (300 all comers) holds the subgroup at its share; stage 2 is all subgroup
    stage_1 = n_sub - 300
    share = plan.subgroup_share
    se = np.sqrt(share * (1 - share) / 300 / len(stage_1))
    assert abs(stage_1.mean() / 300 - share) < 4 * se
    expected = 300 / plan.eligible_fraction + 300 / (plan.eligible_fraction * share)
    assert np.allclose(full.n_screened, expected)


def test_saved_patients_of_an_enriched_stage_are_all_in_the_subgroup():
    plan = _enrichment_plan("patients", save_patients=50)
    _, result = _run(plan, replicates=50, save_patients=50)
    patients = result.patients.to_pandas()
    late = patients[patients.patient > 300]
    early = patients[patients.patient <= 300]
    assert len(late) == 50 * 300 and (late.il6_pg_ml >= 200).all()
    assert 0 < (early.il6_pg_ml >= 200).mean() < 1


def test_an_unadapted_stage_plan_is_the_protocols():
    plan = _plan(SMALL)
    stage = StagePlan.fixed(5, plan.look_patients[0], plan.allocation)
    following = planned_stage(plan, 0, stage)
    assert (following.patients == plan.look_patients[1] - plan.look_patients[0]).all()
    assert not following.changed(stage).any()
