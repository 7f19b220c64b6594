"""Samplers: what a stage of each running trial enrols, drawn only as far as its analyses see.

- `CountsSampler`: a binary primary analysed by the two-proportion test, no other
  endpoint: each stage's patients per arm are a multinomial draw over (died,
  observed) from the arm's exact law (`cstrial.engine.laws`), and the tests read the
  counts. No patient is drawn one by one.
- `EventsSampler`: analyses that read only arm, time and strata (two-proportion,
  log-rank, Cox, and their stratified forms): each patient's day of death is drawn
  by inverting the arm's (stratum's) exact survival curve; dropout and entry as for
  patients.
- `PatientsSampler`: everything else (covariate-adjusted analyses, endpoints built
  from the organ-support course, infection harms, saved patients): virtual patients
  with all their covariates and their own hazard of death.

Enrolled patients are independent draws from the eligible population, so the first
two are exact in distribution: they draw from the same law as the third, at a
fraction of the cost. A sampler keeps each stage's draws for the trials that
reached it; a look assembles the running trials' patients so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cstrial.analysis import two_proportion_z
from cstrial.design.accrual import DAYS_PER_MONTH
from cstrial.disease import MODEL_HORIZON_DAYS, late_log_ratio, linear_predictor
from cstrial.disease.course import Course, simulate_course
from cstrial.disease.model import death_days
from cstrial.endpoints import AnalysisResult, TrialCourse, analyse, outcome_at
from cstrial.engine.plan import ScenarioPlan
from cstrial.engine.stages import StagePlan, arm_counts, permuted_arms
from cstrial.population import enroll
from cstrial.treatment import hazard_course
from cstrial.treatment.harms import death_day_with_infection, excess_infection_day

# Patient-level stages are simulated in blocks of trials of about this many patients:
# a bound on a worker's memory (about 150 bytes a patient) whatever the chunk size.
BLOCK_PATIENTS = 1 << 19


@dataclass(frozen=True)
class Look:
    """What one look of the running trials sees: its date and each comparison's analysis."""

    months: np.ndarray  # (R,) calendar month of the look, per running trial
    analyses: tuple[AnalysisResult, ...]  # per comparison, rows = running trials
    course: TrialCourse | None  # the patients so far (patient-level samplers)
    # per comparison: (randomised control, deaths control, randomised treatment, deaths
    # treatment) among the patients of the stages reached, (4, R)
    arms: tuple[np.ndarray, ...]


class CountsSampler:
    """Binary outcomes as counts per stage and arm, from each arm's exact law."""

    def __init__(self, plan: ScenarioPlan, replicates: int) -> None:
        laws = plan.laws
        assert laws is not None, "the counts sampler needs the arms' laws"
        self.plan = plan
        horizon = plan.horizon_days
        rate = plan.dropout_per_day
        # P(observed | died) = E[exp(-rate T) | T <= horizon], summed over the law's grid
        days = np.append(laws.days[laws.days < horizon], horizon)
        survival = laws.survival_at(days)[0]  # (A, G)
        dying = -np.diff(survival, axis=1)
        risk = dying.sum(axis=1)  # (A,) P(death by the horizon)
        middle = (days[1:] + days[:-1]) / 2
        observed_dead = (dying * np.exp(-rate * middle)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            seen = np.where(risk > 0, observed_dead / risk, 1.0)
        self.p_observed_if_died = np.clip(seen, 0.0, 1.0)
        self.p_died = np.clip(risk, 0.0, 1.0)
        self.p_observed_if_alive = np.exp(-rate * horizon)
        # per trial and arm: [died & observed, died & lost, alive & observed, alive & lost]
        self.counts = np.zeros((replicates, len(plan.arm_names), 4), dtype=np.int64)

    def enrol(
        self, rng: np.random.Generator, stage: int, running: np.ndarray, plan: StagePlan
    ) -> None:
        randomised = arm_counts(rng, plan)  # (R, A)
        died = rng.binomial(randomised, self.p_died[None, :])
        died_seen = rng.binomial(died, self.p_observed_if_died[None, :])
        alive_seen = rng.binomial(randomised - died, self.p_observed_if_alive)
        stage_counts = np.stack(
            [died_seen, died - died_seen, alive_seen, randomised - died - alive_seen], axis=2
        )
        self.counts[running] += stage_counts

    def look(self, stage: int, running: np.ndarray) -> Look:
        counts = self.counts[running]  # (R, A, 4)
        observed = counts[:, :, 0] + counts[:, :, 2]
        analyses, arms = [], []
        for c in self.plan.comparisons:
            a = c.arm_index
            n_c, n_t = observed[:, 0], observed[:, a]
            e_c, e_t = counts[:, 0, 0], counts[:, a, 0]
            test = two_proportion_z(e_c, n_c, e_t, n_t)
            analyses.append(
                AnalysisResult(
                    test.z,
                    test.estimate,
                    n_c.astype(np.int32),
                    n_t.astype(np.int32),
                    e_c.astype(np.int32),
                    e_t.astype(np.int32),
                )
            )
            randomised = counts.sum(axis=2)
            died = counts[:, :, 0] + counts[:, :, 1]
            arms.append(np.stack([randomised[:, 0], died[:, 0], randomised[:, a], died[:, a]]))
        months = np.full(running.size, self.plan.look_months[stage])
        return Look(months, tuple(analyses), None, tuple(arms))


class _CourseSampler:
    """Patient-level stages (arrays of (trials, patients)), assembled at each look."""

    def __init__(self, plan: ScenarioPlan, replicates: int) -> None:
        self.plan = plan
        self.stages: list[tuple[np.ndarray, TrialCourse]] = []  # (trials, their patients)
        # time to event: the trial's whole enrolment is drawn at once (see `enrol`)
        self.whole = plan.planned_events is not None

    def enrol(
        self, rng: np.random.Generator, stage: int, running: np.ndarray, plan: StagePlan
    ) -> None:
        first = 0 if stage == 0 else self.plan.look_patients[stage - 1]
        if self.whole:
            if stage > 0:
                return  # everyone was enrolled at stage 0
            first, last = 0, self.plan.sample_size
        else:
            last = self.plan.look_patients[stage]
        width = last - first
        parts = []
        trials_per_block = max(1, BLOCK_PATIENTS // max(width, 1))
        for start in range(0, running.size, trials_per_block):
            rows = slice(start, start + trials_per_block)
            block = plan.rows(np.arange(running.size)[rows]).with_patients(
                np.full(running[rows].size, width)
            )
            arms = permuted_arms(rng, block, width)
            parts.append(self._draw(rng, arms, self.plan.enrolment_months[first:last]))
        self.stages.append((running, _join_trials(parts)))

    def look(self, stage: int, running: np.ndarray) -> Look:
        course = self._assemble(running)
        months = self._look_months(stage, course)
        analyses, arms = [], []
        primary = self.plan.primary
        horizon = self.plan.horizon_days
        outcome = outcome_at(primary, course, months)
        randomised_by_arm = course.arms
        died = course.died_by(horizon)
        for c in self.plan.comparisons:
            analyses.append(analyse(primary, outcome, course, c.arm_index))
            on = [randomised_by_arm == 0, randomised_by_arm == c.arm_index]
            arms.append(
                np.stack(
                    [
                        np.count_nonzero(on[0], axis=1),
                        np.count_nonzero(on[0] & died, axis=1),
                        np.count_nonzero(on[1], axis=1),
                        np.count_nonzero(on[1] & died, axis=1),
                    ]
                )
            )
        return Look(months, tuple(analyses), course, tuple(arms))

    def _draw(self, rng: np.random.Generator, arms: np.ndarray, months: np.ndarray) -> TrialCourse:
        raise NotImplementedError

    def _assemble(self, running: np.ndarray) -> TrialCourse:
        """The running trials' patients of every stage so far, in enrolment order."""
        parts = []
        for trials, course in self.stages:
            parts.append(course.take(np.searchsorted(trials, running)))
        return _join_patients(parts)

    def _look_months(self, stage: int, course: TrialCourse) -> np.ndarray:
        """The look's month per trial: fixed, or (time to event) when the planned share of
        deaths has been observed, and at the latest when everyone has reached the horizon."""
        trials = course.arms.shape[0]
        fixed = np.full(trials, self.plan.look_months[stage])
        if not self.whole or stage == self.plan.n_looks - 1:
            return fixed
        horizon = self.plan.horizon_days
        observed = course.death_day <= np.minimum(horizon, course.dropout_day)
        event_month = np.where(
            observed, course.enrolment_months[None, :] + course.death_day / DAYS_PER_MONTH, np.inf
        )
        events = self.plan.look_events[stage]
        reached = np.partition(event_month, events - 1, axis=1)[:, events - 1]
        return np.minimum(reached, self.plan.look_months[-1])


class EventsSampler(_CourseSampler):
    """Each patient's day of death from the arm's (stratum's) exact survival curve."""

    def _draw(self, rng: np.random.Generator, arms: np.ndarray, months: np.ndarray) -> TrialCourse:
        laws = self.plan.laws
        assert laws is not None, "the events sampler needs the arms' laws"
        shape = arms.shape
        patients: dict[str, np.ndarray] = {}
        stratum: np.ndarray | int = 0
        if laws.strata is not None:
            stratum = rng.choice(laws.prevalence.size, size=shape, p=laws.prevalence)
            patients[laws.strata] = stratum.astype(np.int8)
        death = laws.death_days(rng.random(shape), stratum, np.maximum(arms, 0))
        dropout = np.full(shape, np.inf)
        if self.plan.dropout_per_day > 0:
            dropout = rng.standard_exponential(shape) / self.plan.dropout_per_day
        return TrialCourse(
            arms=arms,
            death_day=death,
            dropout_day=dropout,
            enrolment_months=months,
            patients=patients,
        )


class PatientsSampler(_CourseSampler):
    """Virtual patients with their covariates, hazards, harms and disease course."""

    def _draw(self, rng: np.random.Generator, arms: np.ndarray, months: np.ndarray) -> TrialCourse:
        plan = self.plan
        trials, n = arms.shape
        size = trials * n
        patients, _ = enroll(rng, size, plan.criteria, plan.eligible_fraction)
        eta = linear_predictor(patients) + plan.baseline_shift
        late = late_log_ratio(patients, eta)
        flat_arms = arms.reshape(-1)
        h30 = np.exp(eta)
        exposure = rng.standard_exponential(size)
        fraction = np.empty(size)
        hazard_ratio_30d = np.ones(size)
        courses = {}
        il6 = patients["il6_pg_ml"]
        for j, effect in enumerate(plan.effects):
            in_arm = np.flatnonzero(flat_arms == j)
            if in_arm.size == 0:
                continue
            course = hazard_course(
                effect, h30[in_arm], il6[in_arm], plan.horizon_days, late=late[in_arm]
            )
            fraction[in_arm] = course.death_fraction(exposure[in_arm] / h30[in_arm])
            courses[j] = (in_arm, course)
            if plan.needs_course and effect is not None:
                hazard_ratio_30d[in_arm] = course.cumulative_hazard(30.0) / h30[in_arm]
        dropout = np.full(size, np.inf)
        if plan.dropout_per_day > 0:
            dropout = rng.standard_exponential(size) / plan.dropout_per_day
        death_day = None
        infection_day = None
        for j, effect in enumerate(plan.effects):
            ratio = float(getattr(effect, "infection_hazard_ratio", 1.0))
            if ratio > 1.0 and j in courses:
                in_arm, course = courses[j]
                infection_day = np.full(size, np.inf) if infection_day is None else infection_day
                infected = excess_infection_day(rng, in_arm.size, ratio)
                infection_day[in_arm] = infected
                death_day = death_days(fraction) if death_day is None else death_day
                death_day[in_arm] = death_day_with_infection(
                    course, exposure[in_arm], death_day[in_arm], infected, MODEL_HORIZON_DAYS
                )
        disease_course = None
        if plan.needs_course:
            death_day = death_days(fraction) if death_day is None else death_day
            drawn = simulate_course(rng, patients, death_day, hazard_ratio_30d, death_eta=eta)
            disease_course = drawn.reshaped((trials, n))
        return TrialCourse(
            arms=arms,
            death_day=None if death_day is None else death_day.reshape(trials, n),
            death_fraction=None if death_day is not None else fraction.reshape(trials, n),
            dropout_day=dropout.reshape(trials, n),
            enrolment_months=months,
            patients={k: v.reshape(trials, n) for k, v in patients.items()},
            course=disease_course,
            excess_infection_day=None
            if infection_day is None
            else infection_day.reshape(trials, n),
        )


SAMPLERS: dict[str, type] = {
    "counts": CountsSampler,
    "events": EventsSampler,
    "patients": PatientsSampler,
}


def _join_trials(parts: list[TrialCourse]) -> TrialCourse:
    """Blocks of trials (the same patients' columns) stacked into one."""
    if len(parts) == 1:
        return parts[0]
    return _combine(parts, axis=0)


def _join_patients(parts: list[TrialCourse]) -> TrialCourse:
    """Stages of the same trials side by side, in enrolment order."""
    if len(parts) == 1:
        return parts[0]
    return _combine(parts, axis=1)


def _combine(parts: list[TrialCourse], axis: int) -> TrialCourse:
    def cat(values: list[np.ndarray | None], shapes: list[tuple[int, ...]]) -> np.ndarray | None:
        """Concatenated; a part without the array (no such event in it) is all inf there."""
        if all(v is None for v in values):
            return None
        filled = [
            np.full(s, np.inf) if v is None else v for v, s in zip(values, shapes, strict=True)
        ]
        return np.concatenate(filled, axis=axis)

    first = parts[0]
    patients: Mapping[str, np.ndarray] = {
        k: np.concatenate([p.patients[k] for p in parts], axis=axis) for k in first.patients
    }
    course = None
    if first.course is not None:
        course = Course(
            **{
                k: np.concatenate([getattr(p.course, k) for p in parts], axis=axis)
                for k in Course.__dataclass_fields__
            }
        )
    months = first.enrolment_months
    if axis == 1:
        months = np.concatenate([p.enrolment_months for p in parts])
    shapes = [p.arms.shape for p in parts]
    # days where any part has them (they are computed from G where a part has only G)
    known_days = any(p.has_death_days for p in parts)
    return TrialCourse(
        arms=np.concatenate([p.arms for p in parts], axis=axis),
        death_day=np.concatenate([p.death_day for p in parts], axis=axis) if known_days else None,
        death_fraction=None
        if known_days
        else np.concatenate([p.death_fractions for p in parts], axis=axis),
        dropout_day=np.concatenate([p.dropout_day for p in parts], axis=axis),
        enrolment_months=months,
        patients=patients,
        course=course,
        excess_infection_day=cat([p.excess_infection_day for p in parts], shapes),
    )
