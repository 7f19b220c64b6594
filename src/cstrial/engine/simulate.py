"""The hot path: one chunk of replicate trials, simulated stage by stage as whole arrays.

A trial advances look by look: stage k enrols its patients under the stage plan
(`cstrial.engine.stages`), the look analyses what the trial has seen, and each
comparison's rule decides (`cstrial.engine.decide`). A trial that has stopped draws
nothing more. The running trials of a chunk are handled as arrays (row sets), never
one by one. Every random draw comes from the chunk's own generator, in a fixed
order, so a chunk's result depends only on (seed, scenario, chunk).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
from scipy.special import ndtr, ndtri
from threadpoolctl import ThreadpoolController

from cstrial.design.accrual import enrolled_by
from cstrial.endpoints import TrialCourse, analyse, outcome_at
from cstrial.engine.decide import CONTINUE, EFFICACY, GroupSequentialDesign, planned_stage
from cstrial.engine.plan import ScenarioPlan
from cstrial.engine.samplers import SAMPLERS, Look
from cstrial.engine.stages import SUBGROUP, StagePlan
from cstrial.engine.summary import ComparisonTally
from cstrial.engine.tables import ComparisonRows, patients_table, trials_table
from cstrial.protocol.vocabulary import ANALYSES


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk hands back: its trials, a summary tally per comparison, saved patients."""

    scenario: int
    chunk: int
    trials: pa.Table
    tallies: list[ComparisonTally]  # in the order of the plan's comparisons
    patients: pa.Table | None


def chunk_generator(seed: int, scenario: int, chunk: int) -> np.random.Generator:
    """The chunk's generator, as the reproducibility contract of DESIGN.md fixes it."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(scenario, chunk)))
    )


def simulate_chunk(
    plan: ScenarioPlan,
    chunk: int,
    first_sim: int,
    replicates: int,
    n_looks_out: int,
    save_patients: int = 0,
) -> ChunkResult:
    """Simulate and analyse `replicates` trials of one scenario (sims first_sim, first_sim+1, ...).

    Rows come out comparison by comparison, each in replicate order.
    """
    with one_blas_thread():
        return _simulate_chunk(plan, chunk, first_sim, replicates, n_looks_out, save_patients)


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread while simulating (bytes unchanged).

    Chunks run in parallel, one per core; a second BLAS thread spinning on the
    copula's small matrix product only takes CPU from the other workers.
    """
    return _blas().limit(limits=1, user_api="blas")


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


class _Trials:
    """What the chunk's trials have decided so far, comparison by comparison."""

    def __init__(self, plan: ScenarioPlan, replicates: int, n_looks_out: int) -> None:
        shape = (len(plan.comparisons), replicates)
        self.plan = plan
        self.decision = np.full(shape, CONTINUE, dtype=np.int8)
        self.stop = np.zeros(shape, dtype=np.int64)
        self.z = np.full((*shape, n_looks_out), np.nan)
        self.months = np.zeros(shape)
        self.n_enrolled = np.zeros(shape, dtype=np.int64)
        self.n_screened = np.zeros(shape)
        nan = np.full(shape, np.nan)
        self.estimate, self.p_value = nan.copy(), nan.copy()
        counts = np.zeros(shape, dtype=np.int32)
        self.n_control, self.n_treatment = counts.copy(), counts.copy()
        self.events_control, self.events_treatment = counts.copy(), counts.copy()
        self.arms = np.zeros((len(plan.comparisons), 4), dtype=np.int64)
        self.extra: list[dict[str, np.ndarray]] = [{} for _ in plan.comparisons]
        self.secondary: list[dict[str, list[np.ndarray]]] = [
            {
                e.name: [nan[0].copy(), nan[0].copy(), np.zeros(replicates, bool)]
                for e in plan.secondaries
            }
            for _ in plan.comparisons
        ]
        self.failed = np.zeros(len(plan.comparisons), dtype=np.int64)
        self.stopped_course: dict[int, tuple[np.ndarray, TrialCourse]] = {}

    def running(self) -> np.ndarray:
        """Trials with a comparison still undecided (a multi-arm trial runs until its last)."""
        return np.flatnonzero((self.decision == CONTINUE).any(axis=0))

    def record(
        self,
        look: int,
        running: np.ndarray,
        seen: Look,
        decisions: np.ndarray,
        n_enrolled: np.ndarray,
        n_screened: np.ndarray,
    ) -> None:
        """Keep what look `look` saw of the running trials' open comparisons, and what it
        decided (`decisions` (C, R)); `n_enrolled` and `n_screened` are the trials'
        patients enrolled (and screened) by the look's date."""
        for c, analysis in enumerate(seen.analyses):
            open_ = self.decision[c, running] == CONTINUE
            rows = running[open_]
            z = analysis.z[open_]
            self.z[c, rows, look] = z
            if analysis.converged is not None:
                self.failed[c] += int(np.count_nonzero(~analysis.converged[open_]))
            decided = decisions[c, open_]
            stopping = decided != CONTINUE
            at = rows[stopping]
            pick = np.flatnonzero(open_)[stopping]  # positions among the running trials
            self.decision[c, at] = decided[stopping]
            self.stop[c, at] = look
            self.months[c, at] = seen.months[pick]
            self.n_enrolled[c, at] = n_enrolled[pick]
            self.n_screened[c, at] = n_screened[pick]
            self.estimate[c, at] = analysis.estimate[pick]
            self.p_value[c, at] = ndtr(-z[stopping])
            self.n_control[c, at] = analysis.n_control[pick]
            self.n_treatment[c, at] = analysis.n_treatment[pick]
            self.events_control[c, at] = analysis.events_control[pick]
            self.events_treatment[c, at] = analysis.events_treatment[pick]
            self.arms[c] += seen.arms[c][:, pick].sum(axis=1)
            for name, values in analysis.extra.items():
                store = self.extra[c].setdefault(name, np.full(self.decision.shape[1], np.nan))
                store[at] = values[pick]
            if self.plan.secondaries and at.size:
                assert seen.course is not None  # secondaries run on patient-level samplers
                self._secondaries(c, at, pick, seen)

    def _secondaries(self, c: int, at: np.ndarray, pick: np.ndarray, seen: Look) -> None:
        """Each secondary endpoint analysed at the primary's stopping date.

        Without `testing: fixed-sequence` each is tested alone at the comparison's alpha
        (no multiplicity control); with it, a secondary rejects only if the primary and
        every earlier secondary rejected.
        """
        assert seen.course is not None
        comparison = self.plan.comparisons[c]
        course = seen.course.take(pick)
        months = seen.months[pick]
        gate = self.decision[c, at] == EFFICACY
        critical = -ndtri(comparison.alpha)
        for endpoint in self.plan.secondaries:
            result = analyse(
                endpoint, outcome_at(endpoint, course, months), course, comparison.arm_index
            )
            reject = result.z >= critical
            if self.plan.fixed_sequence:
                reject &= gate
                gate = reject
            store = self.secondary[c][endpoint.name]
            store[0][at], store[1][at], store[2][at] = result.z, result.estimate, reject


def _simulate_chunk(
    plan: ScenarioPlan,
    chunk: int,
    first_sim: int,
    replicates: int,
    n_looks_out: int,
    save_patients: int,
) -> ChunkResult:
    rng = chunk_generator(plan.seed, plan.index, chunk)
    sampler = SAMPLERS[plan.sampler](plan, replicates)
    assured = None
    if plan.assurance is not None:  # each trial's own effect, from its own stream
        assured = plan.assurance.draw(plan.seed, plan.index, chunk, replicates)
        sampler.assured = assured
    trials = _Trials(plan, replicates, n_looks_out)
    rule = (plan.design or GroupSequentialDesign.of_plan(plan)).start(plan, replicates)
    first_events = plan.look_events[0] if plan.look_events else 0
    stage = StagePlan.fixed(replicates, plan.look_patients[0], plan.allocation, first_events)
    enrolled = _Enrolment(plan, replicates)
    keep = max(0, min(save_patients - first_sim, replicates))  # the run's first K trials
    saved: list[pa.Table] = []
    for look in range(plan.n_looks):
        running = trials.running()
        if running.size == 0:
            break
        this_stage = stage.rows(running)
        sampler.enrol(rng, look, running, this_stage)
        seen = sampler.look(look, running)
        verdict = rule.decide(look, running, seen, this_stage)
        following = verdict.next_stage or planned_stage(plan, look, this_stage)
        n_enrolled, n_screened = enrolled.by_look(look, running, seen, this_stage, following)
        trials.record(look, running, seen, verdict.decision, n_enrolled, n_screened)
        stage = stage.with_rows(running, following)
        if keep and seen.course is not None:
            _save_finished(plan, trials, running, seen, keep, first_sim, saved)
    sims = np.arange(first_sim, first_sim + replicates, dtype=np.int64)
    tables, tallies = [], []
    columns = rule.columns()
    for c, comparison in enumerate(plan.comparisons):
        design_columns = columns[c]
        if plan.assurance is not None and assured is not None:
            design_columns = {**design_columns, plan.assurance.column: assured}
        rows = _comparison_rows(plan, trials, c, sims, design_columns)
        tables.append(trials_table(plan, comparison, rows, n_looks_out))
        control, control_deaths, treated, treated_deaths = (int(x) for x in trials.arms[c])
        arms = (control, control_deaths, treated, treated_deaths)
        ratios = frozenset(e.name for e in plan.secondaries if ANALYSES[e.analysis].ratio)
        tallies.append(rows.tally(n_looks_out, arms, ANALYSES[plan.primary.analysis].ratio, ratios))
    # one Arrow chunk per column: ~10x faster to send to the main process, and to write
    table = pa.concat_tables(tables).combine_chunks()
    patients = None
    if saved:  # trials finish at different looks: back into replicate order
        patients = pa.concat_tables(saved).sort_by([("sim", "ascending")]).combine_chunks()
    return ChunkResult(plan.index, chunk, table, tallies, patients)


class _Enrolment:
    """Patients enrolled, and screened, by each look's date, trial by trial.

    Enrolment runs on while a look's patients are followed up: by the look's date it
    has reached `enrolled_by(month)`, at most the trial's planned total (the patients
    so far and those its next stages plan); time to event: the whole sample size.
    Screened patients are the enrolled over the eligible fraction of the population
    they were enrolled from (the subgroup's is smaller): those enrolled after a look
    belong to the stage it planned.
    """

    def __init__(self, plan: ScenarioPlan, replicates: int) -> None:
        self.plan = plan
        self.enrolled = np.zeros(replicates, dtype=np.int64)  # time to event: by the last look
        self.screened = np.zeros(replicates)  # up to the last look's patients (its date, TTE)

    def by_look(
        self,
        look: int,
        running: np.ndarray,
        seen: Look,
        stage: StagePlan,
        following: StagePlan,
    ) -> tuple[np.ndarray, np.ndarray]:
        plan = self.plan
        by_date = enrolled_by(seen.months, plan.patients_per_month, plan.ramp_up_months)
        by_date = by_date.astype(np.int64)
        if plan.planned_events is not None:  # stages are calendar periods
            n = np.minimum(plan.sample_size, by_date)
            new = np.maximum(n - self.enrolled[running], 0)
            self.enrolled[running] = np.maximum(self.enrolled[running], n)
            self.screened[running] += new / self._fraction(stage)
            return n, self.screened[running].copy()
        later = plan.look_patients[-1] - plan.look_patients[min(look + 1, plan.n_looks - 1)]
        planned = seen.enrolled + following.patients + later
        n = np.minimum(planned, np.maximum(by_date, seen.enrolled))
        self.screened[running] += stage.patients / self._fraction(stage)
        pipeline = (n - seen.enrolled) / self._fraction(following)
        return n, self.screened[running] + pipeline

    def _fraction(self, stage: StagePlan) -> np.ndarray:
        """The eligible fraction of each trial's stage population."""
        plan = self.plan
        return np.where(
            stage.population == SUBGROUP,
            plan.eligible_fraction * plan.subgroup_share,
            plan.eligible_fraction,
        )


def _comparison_rows(
    plan: ScenarioPlan,
    trials: _Trials,
    c: int,
    sims: np.ndarray,
    columns: dict[str, np.ndarray],
) -> ComparisonRows:
    """One comparison's trials: the decision and what the stopping look saw."""
    rule_columns = dict(columns)
    if plan.subgroup is not None:
        rule_columns["n_screened"] = trials.n_screened[c]
    return ComparisonRows(
        sims=sims,
        decision=trials.decision[c].copy(),
        stop_look=trials.stop[c],
        n_enrolled=trials.n_enrolled[c],
        n_control=trials.n_control[c],
        n_treatment=trials.n_treatment[c],
        events_control=trials.events_control[c],
        events_treatment=trials.events_treatment[c],
        z=trials.z[c],
        estimate=trials.estimate[c],
        p_value=trials.p_value[c],
        duration=trials.months[c],
        extra=trials.extra[c],
        secondary={name: tuple(v) for name, v in trials.secondary[c].items()},  # type: ignore[misc]
        failed_fits=int(trials.failed[c]),
        rule_columns=rule_columns,
    )


def _save_finished(
    plan: ScenarioPlan,
    trials: _Trials,
    running: np.ndarray,
    seen: Look,
    keep: int,
    first_sim: int,
    saved: list[pa.Table],
) -> None:
    """patients.parquet's rows of the saved trials (the first `keep`) that stopped at this
    look: the patients of every stage they reached, in enrolment order."""
    assert seen.course is not None
    done = (trials.decision[:, running] != CONTINUE).all(axis=0) & (running < keep)
    if not done.any():
        return
    pick = np.flatnonzero(done)
    course = seen.course.take(pick)
    sims = first_sim + running[pick]
    saved.append(patients_table(plan, course, sims.astype(np.int64), pick.size, seen.months[pick]))
