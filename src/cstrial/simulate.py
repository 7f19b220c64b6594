"""The hot path: one chunk of replicate trials, simulated and analysed as whole arrays.

Shapes: patients are (replicates, sample_size) in enrolment order; statistics are
(replicates, looks). Every random draw comes from the chunk's own generator, in a
fixed order, so a chunk's result depends only on (seed, scenario, chunk).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
from scipy.special import ndtr, ndtri
from threadpoolctl import ThreadpoolController

from cstrial.accrual import DAYS_PER_MONTH, enrolled_by
from cstrial.design import conditional_power
from cstrial.disease import MODEL_HORIZON_DAYS, late_log_ratio, linear_predictor
from cstrial.disease.course import simulate_course
from cstrial.disease.model import death_days
from cstrial.endpoints import AnalysisResult, TrialCourse, analyse, outcome_at
from cstrial.endpoints.prefix import followed_prefixes, two_proportion_by_look
from cstrial.plan import Comparison, ScenarioPlan
from cstrial.pool import PoolView, trial_blocks
from cstrial.population import enroll
from cstrial.protocol.covariates import COVARIATES
from cstrial.randomisation import permuted_blocks
from cstrial.treatment import hazard_course
from cstrial.treatment.harms import death_day_with_infection, excess_infection_day

DECISIONS = ("none", "efficacy", "futility")


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk hands back: its trials, additive tallies, and saved patients."""

    scenario: int
    chunk: int
    trials: pa.Table
    tallies: dict[str, np.ndarray]  # per comparison label: enrolled/deaths by arm
    patients: pa.Table | None


# Trials are analysed in slices of about this many patients: arrays that stay in a
# core's cache (with two workers, 2^15-patient arrays analyse ~30% faster than 2^19).
ANALYSIS_PATIENTS = 1 << 15


def warm_up() -> int:
    """Nothing: sent to each new worker so it imports this module before the first chunk."""
    return os.getpid()


def chunk_generator(seed: int, scenario: int, chunk: int) -> np.random.Generator:
    """The chunk's generator, as the reproducibility contract of DESIGN.md fixes it."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(scenario, chunk)))
    )


def simulate_trials(
    plan: ScenarioPlan,
    rng: np.random.Generator,
    replicates: int,
    patients: Mapping[str, np.ndarray] | None = None,
    eta: np.ndarray | None = None,
) -> TrialCourse:
    """Randomise and simulate the course of every patient of `replicates` trials.

    `patients` are the trials' enrolled patients, trial after trial, each in
    enrolment order, and `eta` their shifted linear predictor; without them the
    patients are enrolled here from fresh candidates.
    """
    n = plan.sample_size
    size = replicates * n
    if patients is None:
        patients, _ = enroll(rng, size, plan.criteria, plan.eligible_fraction)
    if eta is None:
        eta = linear_predictor(patients) + plan.baseline_shift
    arms = permuted_blocks(rng, replicates, n, plan.allocation).reshape(-1)

    h30 = np.exp(eta)
    late = late_log_ratio(patients, eta)
    if not plan.needs_course:
        eta = None  # only the disease course needs it: 8 bytes a patient less at the peak
    exposure = rng.standard_exponential(size)
    # patients grouped by arm (a stable radix sort of int8 codes): each arm's course is
    # computed on one contiguous slice, with one gather and one scatter in all
    il6 = patients["il6_pg_ml"]
    by_arm = np.argsort(arms, kind="stable")
    ends = np.cumsum([np.count_nonzero(arms == j) for j in range(len(plan.effects))])
    h30_by_arm, target_by_arm = h30[by_arm], (exposure / h30)[by_arm]
    il6_by_arm, late_by_arm = il6[by_arm], late.reshape(-1)[by_arm]
    fraction = np.empty(size)
    hazard_ratio_30d = np.ones(size) if plan.needs_course else None
    courses = {}
    for j, effect in enumerate(plan.effects):
        arm = slice(ends[j - 1] if j else 0, ends[j])
        course = hazard_course(
            effect,
            h30_by_arm[arm],
            il6_by_arm[arm],
            plan.horizon_days,
            late=late_by_arm[arm],
        )
        fraction[by_arm[arm]] = course.death_fraction(target_by_arm[arm])
        courses[j] = (by_arm[arm], course)  # the arm's patients in increasing order
        if plan.needs_course and effect is not None:
            ratio = course.cumulative_hazard(30.0) / h30_by_arm[arm]
            hazard_ratio_30d[by_arm[arm]] = ratio
    dropout_day = np.full(size, np.inf)
    if plan.dropout_per_day > 0:
        dropout_day = rng.standard_exponential(size) / plan.dropout_per_day
    # days of death only where needed: a binary primary needs G at death alone
    death_day = None
    # harms draw last, and only for arms that have them: other streams stay as they were
    infection_day = None
    for j, effect in enumerate(plan.effects):
        ratio = getattr(effect, "infection_hazard_ratio", 1.0)
        if ratio > 1.0:
            in_arm, course = courses[j]
            infection_day = np.full(size, np.inf) if infection_day is None else infection_day
            drawn = excess_infection_day(rng, in_arm.size, ratio)
            infection_day[in_arm] = drawn
            death_day = death_days(fraction) if death_day is None else death_day
            death_day[in_arm] = death_day_with_infection(
                course, exposure[in_arm], death_day[in_arm], drawn, MODEL_HORIZON_DAYS
            )
    course = None
    if plan.needs_course:
        death_day = death_days(fraction) if death_day is None else death_day
        drawn = simulate_course(rng, patients, death_day, hazard_ratio_30d, death_eta=eta)
        course = type(drawn)(**{k: v.reshape(replicates, n) for k, v in drawn.__dict__.items()})
    return TrialCourse(
        arms=arms.reshape(replicates, n),
        death_day=None if death_day is None else death_day.reshape(replicates, n),
        death_fraction=None if death_day is not None else fraction.reshape(replicates, n),
        dropout_day=dropout_day.reshape(replicates, n),
        enrolment_months=plan.enrolment_months,
        patients=patients.reshaped((replicates, n))
        if isinstance(patients, PoolView)
        else {k: v.reshape(replicates, n) for k, v in patients.items()},
        course=course,
        excess_infection_day=None
        if infection_day is None
        else infection_day.reshape(replicates, n),
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

    The chunk's trials are simulated in blocks of at most `BLOCK_PATIENTS` patients,
    one after another from the chunk's generator (see `cstrial.pool.trial_blocks`); rows come
    out comparison by comparison, each in replicate order.
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


def _simulate_chunk(
    plan: ScenarioPlan,
    chunk: int,
    first_sim: int,
    replicates: int,
    n_looks_out: int,
    save_patients: int,
) -> ChunkResult:
    rng = chunk_generator(plan.seed, plan.index, chunk)
    tables: dict[str, list[pa.Table]] = {c.label: [] for c in plan.comparisons}
    tallies: dict[str, np.ndarray] = {c.label: np.zeros(4, np.int64) for c in plan.comparisons}
    saved = []
    step = max(1, ANALYSIS_PATIENTS // plan.sample_size)
    prefixes = _binary_prefixes(plan)
    for start, size, patients, eta in trial_blocks(plan, rng, replicates):
        block = simulate_trials(plan, rng, size, patients, eta)
        # analysed a few trials at a time: no draws, so the bytes do not depend on it
        for first in range(0, size, step):
            last = min(size, first + step)
            trial = block.replicates(first, last) if step < size else block
            begin = first_sim + start + first
            look_months = _look_months(plan, trial)
            analyses = _primary_analyses(plan, trial, look_months, prefixes)
            sims = np.arange(begin, begin + last - first, dtype=np.int64)
            for comparison in plan.comparisons:
                looks = analyses(comparison.arm_index)
                table, tally = _comparison(
                    plan, comparison, trial, look_months, looks, sims, n_looks_out
                )
                tables[comparison.label].append(table)
                tallies[comparison.label] += tally
            keep = max(0, min(save_patients - begin, last - first))
            if keep:
                # a multi-arm trial enrols until its last comparison stops
                enrolled = [tables[c.label][-1]["n_enrolled"].to_numpy() for c in plan.comparisons]
                saved.append(_patients_table(plan, trial, sims, keep, np.max(enrolled, axis=0)))
    # one Arrow chunk per column: ~10x faster to send to the main process, and to write
    trials = pa.concat_tables([t for label in tables for t in tables[label]]).combine_chunks()
    patients = pa.concat_tables(saved).combine_chunks() if saved else None
    return ChunkResult(plan.index, chunk, trials, tallies, patients)


def _binary_prefixes(plan: ScenarioPlan) -> tuple[int, ...] | None:
    """Patients each look counts, if the primary's counts can be taken at once by prefix.

    Only for a two-proportion test at fixed calendar looks (`cstrial.endpoints.prefix`).
    """
    primary = plan.primary
    if primary.type != "binary" or primary.analysis != "two-proportion":  # type: ignore[attr-defined]
        return None
    if plan.planned_events is not None:
        return None
    horizon = float(primary.horizon_days)  # type: ignore[attr-defined]
    return followed_prefixes(plan.enrolment_months, np.asarray(plan.look_months), horizon)


def _primary_analyses(
    plan: ScenarioPlan,
    trial: TrialCourse,
    look_months: np.ndarray,
    prefixes: tuple[int, ...] | None,
) -> Callable[[int], list[AnalysisResult]]:
    """The primary analysis of an arm against control at each look, by arm index."""
    primary = plan.primary
    if prefixes is not None:
        horizon = float(primary.horizon_days)  # type: ignore[attr-defined]
        return lambda arm: two_proportion_by_look(trial, horizon, arm, prefixes)
    # what each look sees: the same for every comparison of the trial
    outcomes = [outcome_at(primary, trial, months) for months in look_months.T]
    return lambda arm: [analyse(primary, outcome, trial, arm) for outcome in outcomes]


def _look_months(plan: ScenarioPlan, trial: TrialCourse) -> np.ndarray:
    """Calendar month of each look, (R, K): by patients followed up, or by events for TTE."""
    replicates = trial.arms.shape[0]
    fixed = np.broadcast_to(np.asarray(plan.look_months), (replicates, plan.n_looks))
    if plan.planned_events is None:
        return fixed
    # event-driven interims: when the trial's observed deaths reach the planned fraction
    horizon = plan.horizon_days
    observed = trial.death_day <= np.minimum(horizon, trial.dropout_day)
    event_month = np.where(
        observed, trial.enrolment_months[None, :] + trial.death_day / DAYS_PER_MONTH, np.inf
    )
    event_month.sort(axis=1)
    months = fixed.copy()
    for k, events in enumerate(plan.look_events[:-1]):
        reached = event_month[:, min(events, event_month.shape[1]) - 1]
        months[:, k] = np.minimum(reached, fixed[:, -1])
    return months


def _comparison(
    plan: ScenarioPlan,
    comparison: Comparison,
    trial: TrialCourse,
    look_months: np.ndarray,
    looks: list[AnalysisResult],
    sims: np.ndarray,
    n_looks_out: int,
) -> tuple[pa.Table, np.ndarray]:
    replicates, n_looks = look_months.shape
    rows = np.arange(replicates)
    z = np.stack([look.z for look in looks], axis=1)
    stop, decision = _decide(plan, comparison, z)
    stop_months = look_months[rows, stop]
    n_enrolled = np.minimum(
        plan.sample_size,
        enrolled_by(stop_months, plan.patients_per_month, plan.ramp_up_months).astype(np.int64),
    )
    if plan.planned_events is None:  # looks by patients followed up: they are all enrolled
        n_enrolled = np.maximum(n_enrolled, np.asarray(plan.look_patients)[stop])

    def at_stop(field: str) -> np.ndarray:
        return np.stack([getattr(look, field) for look in looks], axis=1)[rows, stop]

    z_out = np.full((replicates, n_looks_out), np.nan)
    reached = np.arange(n_looks)[None, :] <= stop[:, None]
    z_out[:, :n_looks] = np.where(reached, z, np.nan)
    z_stop = z[rows, stop]
    columns = {
        "scenario": pa.repeat(pa.scalar(plan.name, pa.string()), replicates),
        "comparison": pa.repeat(pa.scalar(comparison.label, pa.string()), replicates),
        "sim": pa.array(sims),
        "decision": pa.array(np.asarray(DECISIONS, dtype=object)[decision], pa.string()),
        "stop_look": pa.array((stop + 1).astype(np.int16)),
        "n_enrolled": pa.array(n_enrolled.astype(np.int32)),
        "n_control": pa.array(at_stop("n_control")),
        "n_treatment": pa.array(at_stop("n_treatment")),
        "events_control": pa.array(at_stop("events_control")),
        "events_treatment": pa.array(at_stop("events_treatment")),
        **{f"z_look_{k + 1}": pa.array(z_out[:, k]) for k in range(n_looks_out)},
        "estimate": pa.array(at_stop("estimate")),
        "p_value": pa.array(ndtr(-z_stop)),
        "duration_months": pa.array(stop_months),
        # further estimates of the analysis (win-ratio: win odds and net benefit), at the stop
        **{
            name: pa.array(np.stack([look.extra[name] for look in looks], axis=1)[rows, stop])
            for name in looks[0].extra
        },
    }
    columns.update(_secondaries(plan, comparison, trial, stop_months, decision))
    tally = _tally(plan, comparison, trial, n_enrolled)
    return pa.table(columns), tally


def _secondaries(
    plan: ScenarioPlan,
    comparison: Comparison,
    trial: TrialCourse,
    stop_months: np.ndarray,
    decision: np.ndarray,
) -> dict[str, pa.Array]:
    """Each secondary endpoint analysed at the primary's stopping date.

    Without `testing: fixed-sequence` each is tested alone at the comparison's alpha
    (no multiplicity control); with it, a secondary rejects only if the primary and
    every earlier secondary rejected.
    """
    columns: dict[str, pa.Array] = {}
    if not plan.secondaries:
        return columns
    gate = decision == 1
    critical = -ndtri(comparison.alpha)
    for endpoint in plan.secondaries:
        result = analyse(
            endpoint, outcome_at(endpoint, trial, stop_months), trial, comparison.arm_index
        )
        reject = result.z >= critical
        if plan.fixed_sequence:
            reject &= gate
            gate = reject
        columns[f"{endpoint.name}_z"] = pa.array(result.z)
        columns[f"{endpoint.name}_estimate"] = pa.array(result.estimate)
        columns[f"{endpoint.name}_reject"] = pa.array(reject)
    return columns


def _tally(
    plan: ScenarioPlan, comparison: Comparison, trial: TrialCourse, n_enrolled: np.ndarray
) -> np.ndarray:
    """Enrolled patients and deaths by the horizon, control and treatment, over all enrolled."""
    enrolled = np.arange(plan.sample_size)[None, :] < n_enrolled[:, None]
    died = enrolled & trial.died_by(plan.horizon_days)
    out = []
    for arm in (0, comparison.arm_index):
        in_arm = trial.arms == arm
        out += [np.count_nonzero(enrolled & in_arm), np.count_nonzero(died & in_arm)]
    return np.array(out, dtype=np.int64)


def _decide(
    plan: ScenarioPlan, comparison: Comparison, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First look at which a bound is crossed, and the decision code (index into DECISIONS)."""
    k = z.shape[1]
    efficacy = z >= np.asarray(comparison.efficacy_z)
    futility = np.zeros_like(efficacy)
    if comparison.futility_z is not None:
        # non-binding or binding, the simulated trial obeys its futility rule at interims
        futility[:, :-1] = z[:, :-1] <= np.asarray(comparison.futility_z)[:-1]
    if plan.conditional_power_below is not None and k > 1:
        fractions = np.asarray(plan.look_fractions[:-1])
        cp = conditional_power(
            z[:, :-1],
            fractions[None, :],
            comparison.efficacy_z[-1],
            z[:, :-1] / np.sqrt(fractions),
        )
        futility[:, :-1] |= cp < plan.conditional_power_below
    stops = efficacy | futility
    stops[:, -1] = True
    stop = np.argmax(stops, axis=1)
    rows = np.arange(z.shape[0])
    decision = np.where(efficacy[rows, stop], 1, np.where(futility[rows, stop], 2, 0))
    return stop, decision.astype(np.int8)


def _patients_table(
    plan: ScenarioPlan, trial: TrialCourse, sims: np.ndarray, keep: int, n_enrolled: np.ndarray
) -> pa.Table:
    """The first `keep` trials' patients: covariates, arm, enrolment, outcome days and flags.

    Every planned patient is listed; `enrolled` marks those enrolled before the trial
    stopped (its last comparison, in a multi-arm trial). `death_day` is the simulated
    day of death to the model horizon (NaN: alive then); `death` is death by the
    primary endpoint's horizon.
    """
    n = plan.sample_size
    m = keep * n

    def flat(values: np.ndarray) -> np.ndarray:
        return values[:keep].reshape(-1)

    columns = {
        "scenario": pa.array([plan.name] * m, pa.string()),
        "sim": pa.array(np.repeat(sims[:keep], n)),
        "patient": pa.array(np.tile(np.arange(1, n + 1, dtype=np.int32), keep)),
        "arm": pa.array(np.asarray(plan.arm_names, dtype=object)[flat(trial.arms)], pa.string()),
        "enrolment_month": pa.array(np.tile(plan.enrolment_months, keep)),
        "enrolled": pa.array((np.arange(n)[None, :] < n_enrolled[:keep, None]).reshape(-1)),
    }
    for name, covariate in COVARIATES.items():
        if name not in trial.patients:
            continue
        values = flat(trial.patients[name])
        if covariate.kind == "categorical":
            values = pa.array(np.asarray(covariate.levels, dtype=object)[values], pa.string())
        columns[name] = values
    death_day = flat(trial.death_day)
    died = death_day <= plan.horizon_days
    columns["death"] = died
    columns["death_day"] = np.where(np.isfinite(death_day), death_day, np.nan)
    dropout_day = flat(trial.dropout_day)
    columns["observed"] = dropout_day >= np.minimum(death_day, plan.horizon_days)
    if plan.dropout_per_day > 0:
        columns["dropout_day"] = dropout_day
    if trial.excess_infection_day is not None:
        values = flat(trial.excess_infection_day)
        columns["excess_infection_day"] = np.where(np.isfinite(values), values, np.nan)
    if trial.course is not None:
        for name, values in trial.course.__dict__.items():
            values = flat(values)
            columns[name] = np.where(np.isfinite(values), values, np.nan)
    return pa.table(columns)
