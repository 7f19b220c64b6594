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
from cstrial.engine.decide import CONTINUE, EFFICACY, GroupSequential
from cstrial.engine.plan import ScenarioPlan
from cstrial.engine.samplers import SAMPLERS, Look
from cstrial.engine.stages import StagePlan
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
        self, look: int, running: np.ndarray, seen: Look, rules: list[GroupSequential]
    ) -> None:
        for c, (analysis, rule) in enumerate(zip(seen.analyses, rules, strict=True)):
            open_ = self.decision[c, running] == CONTINUE
            rows = running[open_]
            z = analysis.z[open_]
            self.z[c, rows, look] = z
            if analysis.converged is not None:
                self.failed[c] += int(np.count_nonzero(~analysis.converged[open_]))
            decided = rule.decide(look, z)
            stopping = decided != CONTINUE
            at = rows[stopping]
            pick = np.flatnonzero(open_)[stopping]  # positions among the running trials
            self.decision[c, at] = decided[stopping]
            self.stop[c, at] = look
            self.months[c, at] = seen.months[pick]
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
    trials = _Trials(plan, replicates, n_looks_out)
    rules = [
        GroupSequential(
            c.efficacy_z, c.futility_z, plan.conditional_power_below, plan.look_fractions
        )
        for c in plan.comparisons
    ]
    stage = StagePlan.fixed(replicates, 0, plan.allocation)
    keep = max(0, min(save_patients - first_sim, replicates))  # the run's first K trials
    saved: list[pa.Table] = []
    for look in range(plan.n_looks):
        running = trials.running()
        if running.size == 0:
            break
        first = 0 if look == 0 else plan.look_patients[look - 1]
        sampler.enrol(
            rng,
            look,
            running,
            stage.rows(running).with_patients(
                np.full(running.size, plan.look_patients[look] - first)
            ),
        )
        seen = sampler.look(look, running)
        trials.record(look, running, seen, rules)
        if keep and seen.course is not None:
            _save_finished(plan, trials, running, seen, keep, first_sim, saved)
    sims = np.arange(first_sim, first_sim + replicates, dtype=np.int64)
    tables, tallies = [], []
    for c, comparison in enumerate(plan.comparisons):
        rows = _comparison_rows(plan, trials, c, sims)
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


def _comparison_rows(
    plan: ScenarioPlan, trials: _Trials, c: int, sims: np.ndarray
) -> ComparisonRows:
    """One comparison's trials: the decision and what the stopping look saw."""
    stop = trials.stop[c]
    months = trials.months[c]
    n_enrolled = np.minimum(
        plan.sample_size,
        enrolled_by(months, plan.patients_per_month, plan.ramp_up_months).astype(np.int64),
    )
    if plan.planned_events is None:  # looks by patients followed up: they are all enrolled
        n_enrolled = np.maximum(n_enrolled, np.asarray(plan.look_patients)[stop])
    decision = trials.decision[c].copy()
    return ComparisonRows(
        sims=sims,
        decision=decision,
        stop_look=stop,
        n_enrolled=n_enrolled,
        n_control=trials.n_control[c],
        n_treatment=trials.n_treatment[c],
        events_control=trials.events_control[c],
        events_treatment=trials.events_treatment[c],
        z=trials.z[c],
        estimate=trials.estimate[c],
        p_value=trials.p_value[c],
        duration=months,
        extra=trials.extra[c],
        secondary={name: tuple(v) for name, v in trials.secondary[c].items()},  # type: ignore[misc]
        failed_fits=int(trials.failed[c]),
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
