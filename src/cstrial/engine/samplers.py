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

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from cstrial.analysis import two_proportion_z
from cstrial.design.accrual import DAYS_PER_MONTH, enrolled_by
from cstrial.disease import MODEL_HORIZON_DAYS, late_log_ratio, linear_predictor
from cstrial.disease.course import Course, simulate_course
from cstrial.disease.model import death_days
from cstrial.endpoints import AnalysisResult, TrialCourse, analyse, outcome_at
from cstrial.engine.plan import Comparison, ScenarioPlan
from cstrial.engine.stages import SUBGROUP, StagePlan, arm_counts, permuted_arms
from cstrial.population import enroll
from cstrial.population.eligibility import eligible, narrowed
from cstrial.protocol.effects import Effect
from cstrial.treatment import hazard_course
from cstrial.treatment.harms import death_day_with_infection, excess_infection_day

# Patient-level stages are simulated in blocks of trials of about this many patients:
# a bound on a worker's memory (about 150 bytes a patient) whatever the chunk size.
BLOCK_PATIENTS = 1 << 19
_AFTER_EVENT_MONTHS = 1e-9


@dataclass(frozen=True)
class Look:
    """What one look of the running trials sees (rows = the running trials).

    `analyses[c]`: comparison c's analysis of every patient so far (of its population);
    `stage_analysis(c)`: the same of this stage's own patients only (None for time to
    event, whose stage-wise statistics are increments of the cumulative log-rank).
    `arms[c]`: (randomised control, deaths control, randomised treatment, deaths
    treatment) among the patients so far, (4, R); `enrolled`: patients randomised so far.
    """

    months: np.ndarray  # (R,) calendar month of the look
    analyses: tuple[AnalysisResult, ...]
    course: TrialCourse | None  # the patients so far (patient-level samplers)
    arms: tuple[np.ndarray, ...]
    enrolled: np.ndarray
    stage_analysis: Callable[[int], AnalysisResult] | None = None


class _Sampler:
    """What every sampler keeps per trial: patients randomised so far (followed up to the
    look, time to event: planned by the stages), and the plan of the stage each trial last
    enrolled under."""

    def __init__(self, plan: ScenarioPlan, replicates: int) -> None:
        self.plan = plan
        self.enrolled = np.zeros(replicates, dtype=np.int64)
        self.last: StagePlan | None = None  # over all replicates

    def _advance(self, running: np.ndarray, plan: StagePlan) -> None:
        if self.last is None:
            n = self.enrolled.size
            self.last = StagePlan.fixed(n, 0, self.plan.allocation)
        self.enrolled[running] += plan.patients
        self.last = self.last.with_rows(running, plan)

    def _fixed_horizon_months(self, running: np.ndarray) -> np.ndarray:
        """The look's month per trial: its last patient so far reaches the horizon."""
        last = self.plan.enrolment_months[self.enrolled[running] - 1]
        return last + self.plan.horizon_days / DAYS_PER_MONTH


class CountsSampler(_Sampler):
    """Binary outcomes as counts per stage, stratum and arm, from each arm's exact law."""

    def __init__(self, plan: ScenarioPlan, replicates: int) -> None:
        super().__init__(plan, replicates)
        laws = plan.laws
        assert laws is not None, "the counts sampler needs the arms' laws"
        self.laws = laws
        horizon = plan.horizon_days
        rate = plan.dropout_per_day
        # P(observed | died) = E[exp(-rate T) | T <= horizon], summed over the law's grid
        days = np.append(laws.days[laws.days < horizon], horizon)
        survival = laws.survival_at(days)  # (S, A, G)
        dying = -np.diff(survival, axis=2)
        risk = dying.sum(axis=2)  # (S, A) P(death by the horizon)
        middle = (days[1:] + days[:-1]) / 2
        observed_dead = (dying * np.exp(-rate * middle)).sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            seen = np.where(risk > 0, observed_dead / risk, 1.0)
        self.p_observed_if_died = np.clip(seen, 0.0, 1.0)
        self.p_died = np.clip(risk, 0.0, 1.0)
        self.p_observed_if_alive = np.exp(-rate * horizon)
        shape = (replicates, risk.shape[0], len(plan.arm_names), 4)
        # per trial, stratum and arm: [died & observed, died & lost, alive & observed,
        # alive & lost], over all stages and of each stage
        self.counts = np.zeros(shape, dtype=np.int64)
        self.stages: list[np.ndarray] = []

    def enrol(
        self, rng: np.random.Generator, stage: int, running: np.ndarray, plan: StagePlan
    ) -> None:
        self._advance(running, plan)
        randomised = arm_counts(rng, plan)[:, None, :]  # (R, 1, A)
        if self.laws.subgroup:  # members of each arm's patients: all, in a subgroup stage
            share = np.where(plan.population == SUBGROUP, 1.0, self.laws.subgroup_share)
            members = rng.binomial(randomised, share[:, None, None])
            randomised = np.concatenate([randomised - members, members], axis=1)  # (R, 2, A)
        died = rng.binomial(randomised, self.p_died[None])
        died_seen = rng.binomial(died, self.p_observed_if_died[None])
        alive_seen = rng.binomial(randomised - died, self.p_observed_if_alive)
        stage_counts = np.stack(
            [died_seen, died - died_seen, alive_seen, randomised - died - alive_seen], axis=3
        )
        self.counts[running] += stage_counts
        this = np.zeros_like(self.counts)
        this[running] = stage_counts
        self.stages.append(this)

    def look(self, stage: int, running: np.ndarray) -> Look:
        counts = self.counts[running]  # (R, S, A, 4)
        stage_counts = self.stages[stage][running]
        analyses, arms = [], []
        for c in self.plan.comparisons:
            analyses.append(self._analysis(counts, c))
            mine = self._of_population(counts, c)
            randomised, died = mine.sum(axis=2), mine[:, :, 0] + mine[:, :, 1]
            a = c.arm_index
            arms.append(np.stack([randomised[:, 0], died[:, 0], randomised[:, a], died[:, a]]))
        comparisons = self.plan.comparisons
        return Look(
            self._fixed_horizon_months(running),
            tuple(analyses),
            None,
            tuple(arms),
            self.enrolled[running],
            lambda c: self._analysis(stage_counts, comparisons[c]),
        )

    def _of_population(self, counts: np.ndarray, comparison: Comparison) -> np.ndarray:
        """(R, A, 4): the counts of the comparison's population, summed over strata."""
        if comparison.population == SUBGROUP:
            return counts[:, self.laws.in_subgroup].sum(axis=1)
        return counts.sum(axis=1)

    def _analysis(self, counts: np.ndarray, comparison: Comparison) -> AnalysisResult:
        mine = self._of_population(counts, comparison)
        observed = mine[:, :, 0] + mine[:, :, 2]
        a = comparison.arm_index
        n_c, n_t = observed[:, 0], observed[:, a]
        e_c, e_t = mine[:, 0, 0], mine[:, a, 0]
        test = two_proportion_z(e_c, n_c, e_t, n_t, self.plan.primary.continuity_correction)
        return AnalysisResult(
            test.z,
            test.estimate,
            n_c.astype(np.int32),
            n_t.astype(np.int32),
            e_c.astype(np.int32),
            e_t.astype(np.int32),
        )


@dataclass(frozen=True)
class _Stage:
    """One stage's patients: the trials (chunk rows) that enrolled it and their patients;
    `members` (R, n) subgroup membership, with a subgroup."""

    trials: np.ndarray
    course: TrialCourse
    members: np.ndarray | None


class _CourseSampler(_Sampler):
    """Patient-level stages (arrays of (trials, patients)), assembled at each look.

    A stage's patients are as many columns as its largest trial enrols; a trial that
    enrols fewer has arm -1 (no one) in the rest, which no analysis includes.
    """

    def __init__(self, plan: ScenarioPlan, replicates: int) -> None:
        super().__init__(plan, replicates)
        self.stages: list[_Stage] = []
        self.block_trials: np.ndarray | None = None  # the chunk rows `_draw` is drawing
        # time to event: the trial's whole enrolment is drawn at once (see `enrol`)
        self.whole = plan.planned_events is not None
        self.look_month = np.zeros(replicates)  # of each trial's last look

    def enrol(
        self, rng: np.random.Generator, stage: int, running: np.ndarray, plan: StagePlan
    ) -> None:
        """Draw the stage's patients. Time to event: the whole enrolment at stage 0 (the
        looks are set by deaths, among everyone enrolled by then); at a later stage, a
        trial whose arms or population changed at the look has its patients enrolled
        after the look drawn again under the new plan (no analysis has seen them)."""
        before = None if self.last is None else self.last.rows(running)
        self._advance(running, plan)
        if self.whole:
            if stage == 0:
                width = self.plan.sample_size
                full = plan.with_patients(np.full(running.size, width))
                months = self.plan.enrolment_months[:width]
                self.stages.append(_Stage(running, *self._draw_stage(rng, full, months, running)))
            elif before is not None and (changed := plan.changed(before)).any():
                self._redraw_after_look(rng, running[changed], plan.rows(np.flatnonzero(changed)))
            return
        first = self.enrolled[running] - plan.patients
        width = int(plan.patients.max())
        position = first[:, None] + np.arange(width)[None, :]
        position = np.minimum(position, self.plan.enrolment_months.size - 1)
        months = self.plan.enrolment_months[position]
        if (first == first[0]).all():
            months = months[0]  # the same for every trial: one row
        self.stages.append(_Stage(running, *self._draw_stage(rng, plan, months, running)))

    def _draw_stage(
        self, rng: np.random.Generator, plan: StagePlan, months: np.ndarray, trials: np.ndarray
    ) -> tuple[TrialCourse, np.ndarray | None]:
        """The stage's patients of every trial of `plan` (chunk rows `trials`), drawn in
        blocks of trials, the trials of each population together."""
        width = int(plan.patients.max())
        parts: list[tuple[np.ndarray, TrialCourse, np.ndarray | None]] = []
        trials_per_block = max(1, BLOCK_PATIENTS // max(width, 1))
        for population in np.unique(plan.population):
            rows = np.flatnonzero(plan.population == population)
            for start in range(0, rows.size, trials_per_block):
                block = rows[start : start + trials_per_block]
                arms = permuted_arms(rng, plan.rows(block), width)
                block_months = months if months.ndim == 1 else months[block]
                self.block_trials = trials[block]  # the chunk rows `_draw` is drawing
                course, members = self._draw(rng, arms, block_months, int(population))
                parts.append((block, course, members))
        order = np.argsort(np.concatenate([p[0] for p in parts]), kind="stable")
        course = _join_trials([p[1] for p in parts])
        members = None
        if parts[0][2] is not None:
            members = np.concatenate([p[2] for p in parts if p[2] is not None])
        if len(parts) > 1 and (order != np.arange(order.size)).any():
            course = course.take(order)
            members = None if members is None else members[order]
        return course, members

    def _redraw_after_look(
        self, rng: np.random.Generator, trials: np.ndarray, plan: StagePlan
    ) -> None:
        """Draw again, under `plan`, the patients of `trials` enrolled after their last look
        (randomisation restarts in permuted blocks at the first of them)."""
        whole = self.stages[0]
        width = whole.course.arms.shape[1]
        months = self.plan.enrolment_months[:width]
        first = np.searchsorted(months, self.look_month[trials], side="right")
        remaining = plan.with_patients(width - first)
        fresh, members = self._draw_stage(rng, remaining, months, trials)
        # patient j of a trial takes the fresh patient j - first (randomisation order)
        shift = np.clip(np.arange(width)[None, :] - first[:, None], 0, width - 1)
        after = np.arange(width)[None, :] >= first[:, None]
        rows = np.searchsorted(whole.trials, trials)
        fresh_course = _shifted(fresh, shift)
        replaced = _replace_rows(whole.course, rows, after, fresh_course)
        new_members = whole.members
        if new_members is not None and members is not None:
            new_members = new_members.copy()
            new_members[rows] = np.where(
                after, np.take_along_axis(members, shift, axis=1), new_members[rows]
            )
        self.stages[0] = _Stage(whole.trials, replaced, new_members)

    def look(self, stage: int, running: np.ndarray) -> Look:
        course, members, columns = self._assemble(running)
        months = self._look_months(stage, running, course)
        self.look_month[running] = months
        primary = self.plan.primary
        horizon = self.plan.horizon_days
        outcome = outcome_at(primary, course, months)
        died = course.died_by(horizon)
        analyses, arms = [], []
        for c in self.plan.comparisons:
            within = members if c.population == SUBGROUP else None
            analyses.append(analyse(primary, outcome, course, c.arm_index, within))
            on = [course.arms == 0, course.arms == c.arm_index]
            if within is not None:
                on = [on[0] & within, on[1] & within]
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
        stage_analysis = None
        if not self.whole:
            comparisons = self.plan.comparisons

            def stage_analysis(c: int) -> AnalysisResult:
                this = np.zeros(course.arms.shape, dtype=bool)
                this[:, columns[stage] : columns[stage + 1]] = True
                if comparisons[c].population == SUBGROUP:
                    assert members is not None
                    this &= members
                return analyse(primary, outcome, course, comparisons[c].arm_index, this)

        enrolled = self.enrolled[running]
        if self.whole:  # everyone enrolled by the look's date
            by_then = enrolled_by(months, self.plan.patients_per_month, self.plan.ramp_up_months)
            enrolled = np.minimum(by_then.astype(np.int64), self.plan.sample_size)
        return Look(months, tuple(analyses), course, tuple(arms), enrolled, stage_analysis)

    def _draw(
        self, rng: np.random.Generator, arms: np.ndarray, months: np.ndarray, population: int
    ) -> tuple[TrialCourse, np.ndarray | None]:
        raise NotImplementedError

    def _assemble(self, running: np.ndarray) -> tuple[TrialCourse, np.ndarray | None, list[int]]:
        """The running trials' patients of every stage so far, in enrolment order; their
        subgroup membership; and the first column of each stage (and the end)."""
        parts, members = [], []
        columns = [0]
        for stage in self.stages:
            rows = np.searchsorted(stage.trials, running)
            parts.append(stage.course.take(rows))
            if stage.members is not None:
                members.append(stage.members[rows])
            columns.append(columns[-1] + stage.course.arms.shape[1])
        joined = np.concatenate(members, axis=1) if members else None
        return _join_patients(parts), joined, columns

    def _look_months(self, stage: int, running: np.ndarray, course: TrialCourse) -> np.ndarray:
        """The look's month per trial: its last patient reaching the horizon, or (time to
        event) when the stage's deaths have been observed, and at the latest when everyone
        has reached the horizon. The final look is at that latest date (every death by the
        horizon observed), or with `final_analysis: events` when the planned deaths have
        been observed (at the latest date if they never are)."""
        if not self.whole:
            return self._fixed_horizon_months(running)
        trials = course.arms.shape[0]
        final = np.full(trials, self.plan.look_months[-1])
        assert self.last is not None and self.plan.planned_events is not None
        events = self.last.events[running]
        at_end = (stage == self.plan.n_looks - 1) & (events >= self.plan.planned_events)
        at_end &= not self.plan.final_at_events
        if at_end.all():
            return final
        horizon = self.plan.horizon_days
        observed = (course.death_day <= np.minimum(horizon, course.dropout_day)) & (
            course.arms >= 0
        )
        event_month = np.where(
            observed, course.enrolment_months_2d + course.death_day / DAYS_PER_MONTH, np.inf
        )
        k = np.clip(events, 1, event_month.shape[1])
        if (k == k[0]).all():
            reached = np.partition(event_month, k[0] - 1, axis=1)[:, k[0] - 1]
        else:
            reached = np.take_along_axis(np.sort(event_month, axis=1), k[:, None] - 1, axis=1)[:, 0]
        # a hair after the k-th death, so that the analysis at that month, which recomputes
        # each follow-up as (month - entry) days, counts it despite rounding (it saw k - 1
        # about half the time); 1e-9 months is 0.1 ms, in which no second death falls
        reached = reached + _AFTER_EVENT_MONTHS
        return np.where(at_end, final, np.minimum(reached, final))


def _shifted(course: TrialCourse, shift: np.ndarray) -> TrialCourse:
    """Each trial's patients moved right: patient j takes patient shift[r, j]."""

    def move(values: np.ndarray) -> np.ndarray:
        return np.take_along_axis(values, shift, axis=1)

    return _map_course(course, move)


def _replace_rows(
    course: TrialCourse, rows: np.ndarray, where: np.ndarray, fresh: TrialCourse
) -> TrialCourse:
    """`course` with patients `where` (len(rows), n) of trials `rows` taken from `fresh`."""
    columns = iter(_arrays(fresh))

    def put(values: np.ndarray) -> np.ndarray:
        new = next(columns)
        out = values.copy()
        out[rows] = np.where(where, new, values[rows])
        return out

    return _map_course(course, put)


def _arrays(course: TrialCourse) -> list[np.ndarray]:
    """The per-patient arrays of `course`, in `_map_course`'s order."""
    out: list[np.ndarray] = []

    def keep(values: np.ndarray) -> np.ndarray:
        out.append(values)
        return values

    _map_course(course, keep)
    return out


def _map_course(course: TrialCourse, f: Callable[[np.ndarray], np.ndarray]) -> TrialCourse:
    """`course` with `f` applied to each per-patient (R, n) array (enrolment months stay)."""
    inner = course.course
    if inner is not None:
        inner = Course(**{k: f(v) for k, v in inner.__dict__.items()})
    return TrialCourse(
        arms=f(course.arms),
        death_day=f(course.death_day),
        dropout_day=f(course.dropout_day),
        enrolment_months=course.enrolment_months,
        patients={k: f(v) for k, v in course.patients.items()},
        course=inner,
        excess_infection_day=None
        if course.excess_infection_day is None
        else f(course.excess_infection_day),
    )


class EventsSampler(_CourseSampler):
    """Each patient's day of death from the arm's (stratum's) exact survival curve."""

    def _draw(
        self, rng: np.random.Generator, arms: np.ndarray, months: np.ndarray, population: int
    ) -> tuple[TrialCourse, np.ndarray | None]:
        laws = self.plan.laws
        assert laws is not None, "the events sampler needs the arms' laws"
        shape = arms.shape
        patients: dict[str, np.ndarray] = {}
        stratum: np.ndarray | int = 0
        members = None
        if laws.prevalence.size > 1:
            prevalence = laws.stratum_prevalence(population == SUBGROUP)
            stratum = rng.choice(prevalence.size, size=shape, p=prevalence)
            if laws.strata is not None:
                patients[laws.strata] = laws.analysis_stratum(stratum).astype(np.int8)
            if laws.subgroup:
                members = laws.in_subgroup[stratum]
        death = laws.death_days(rng.random(shape), stratum, np.maximum(arms, 0))
        dropout = np.full(shape, np.inf)
        if self.plan.dropout_per_day > 0:
            dropout = rng.standard_exponential(shape) / self.plan.dropout_per_day
        course = TrialCourse(
            arms=arms,
            death_day=death,
            dropout_day=dropout,
            enrolment_months=months,
            patients=patients,
        )
        return course, members


class PatientsSampler(_CourseSampler):
    """Virtual patients with their covariates, hazards, harms and disease course.

    With assurance (`cstrial.engine.assurance`), `assured` holds each trial's own value of
    the assured arm's effect parameter; that arm's patients are simulated under their
    trial's value, the trials that drew the same value together (a point mass: all of
    them at once, exactly as without assurance).
    """

    assured: np.ndarray | None = None  # (replicates,) over the chunk's trials

    def _arm_effects(
        self, j: int, effect: Effect | None, in_arm: np.ndarray, n: int
    ) -> list[tuple[np.ndarray | slice, Effect | None]]:
        """(positions within `in_arm`, effect) covering the arm's patients once."""
        assurance = self.plan.assurance
        if assurance is None or j != assurance.arm_index or self.assured is None:
            return [(slice(None), effect)]
        assert effect is not None and self.block_trials is not None
        values = self.assured[self.block_trials][in_arm // n]
        unique, inverse = np.unique(values, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        groups = np.split(order, np.cumsum(np.bincount(inverse, minlength=unique.size))[:-1])
        return [
            (positions, effect.model_copy(update={assurance.parameter: float(value)}))
            for positions, value in zip(groups, unique, strict=True)
        ]

    def _draw(
        self, rng: np.random.Generator, arms: np.ndarray, months: np.ndarray, population: int
    ) -> tuple[TrialCourse, np.ndarray | None]:
        plan = self.plan
        model = plan.model  # the documented model, or a sensitivity analysis's overrides
        timing = (model.disease, model.late)
        trials, n = arms.shape
        size = trials * n
        if population == SUBGROUP:
            assert plan.subgroup is not None
            criteria = narrowed(plan.criteria, plan.subgroup.inclusion)
            patients, _ = enroll(
                rng, size, criteria, plan.eligible_fraction * plan.subgroup_share, model.population
            )
        else:
            patients, _ = enroll(rng, size, plan.criteria, plan.eligible_fraction, model.population)
        members = None
        if plan.subgroup is not None:
            members = eligible(patients, plan.subgroup).reshape(trials, n)
        eta = linear_predictor(patients, model.disease) + plan.baseline_shift
        late = late_log_ratio(patients, eta, model.late, model.disease)
        flat_arms = np.maximum(arms, 0).reshape(-1)  # no one (-1) is drawn as control, unused
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
            parts = []
            # one effect for the arm, or (assurance) one per value its trials drew
            for positions, arm_effect in self._arm_effects(j, effect, in_arm, n):
                index = in_arm[positions]
                course = hazard_course(
                    arm_effect,
                    h30[index],
                    il6[index],
                    plan.horizon_days,
                    late=late[index],
                    model=model,
                )
                fraction[index] = course.death_fraction(exposure[index] / h30[index])
                parts.append((positions, course))
                if plan.needs_course and arm_effect is not None:
                    hazard_ratio_30d[index] = course.cumulative_hazard(30.0) / h30[index]
            courses[j] = (in_arm, parts)
        dropout = np.full(size, np.inf)
        if plan.dropout_per_day > 0:
            dropout = rng.standard_exponential(size) / plan.dropout_per_day
        death_day = None
        infection_day = None
        for j, effect in enumerate(plan.effects):
            ratio = float(getattr(effect, "infection_hazard_ratio", 1.0))
            if ratio > 1.0 and j in courses:
                in_arm, parts = courses[j]
                infection_day = np.full(size, np.inf) if infection_day is None else infection_day
                infected = excess_infection_day(rng, in_arm.size, ratio, model.harms)
                infection_day[in_arm] = infected
                death_day = death_days(fraction, *timing) if death_day is None else death_day
                for positions, course in parts:
                    index = in_arm[positions]
                    death_day[index] = death_day_with_infection(
                        course,
                        exposure[index],
                        death_day[index],
                        infected[positions],
                        MODEL_HORIZON_DAYS,
                        model.harms,
                    )
        disease_course = None
        if not model.is_default and death_day is None:
            # days with the overridden timing now: the outcomes read G with the model's own
            death_day = death_days(fraction, *timing)
        if plan.needs_course:
            death_day = death_days(fraction, *timing) if death_day is None else death_day
            drawn = simulate_course(
                rng, patients, death_day, hazard_ratio_30d, model.course, death_eta=eta
            )
            disease_course = drawn.reshaped((trials, n))
        trial = TrialCourse(
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
        return trial, members


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
