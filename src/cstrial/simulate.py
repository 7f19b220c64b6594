"""The hot path: one chunk of replicate trials, simulated and analysed as whole arrays.

Shapes: patients are (replicates, sample_size) in enrolment order; statistics are
(replicates, looks). Every random draw comes from the chunk's own generator, in a
fixed order, so a chunk's result depends only on (seed, scenario, chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.special import ndtr

from cstrial.accrual import enrolled_by
from cstrial.analysis import two_proportion_z
from cstrial.design import conditional_power
from cstrial.disease import linear_predictor
from cstrial.plan import Comparison, ScenarioPlan
from cstrial.population import enroll
from cstrial.protocol.covariates import COVARIATES
from cstrial.randomisation import permuted_blocks
from cstrial.treatment import hazard_course

DECISIONS = ("none", "efficacy", "futility")


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk hands back: its trials, additive tallies, and saved patients."""

    scenario: int
    chunk: int
    trials: pa.Table
    tallies: dict[str, np.ndarray]  # per comparison label: enrolled/deaths by arm
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
    """Simulate and analyse `replicates` trials of one scenario (sims first_sim, first_sim+1, ...)."""
    rng = chunk_generator(plan.seed, plan.index, chunk)
    n = plan.sample_size
    patients, _ = enroll(rng, replicates * n, plan.criteria, plan.eligible_fraction)
    arms = permuted_blocks(rng, replicates, n, plan.allocation).reshape(-1)

    h30 = np.exp(linear_predictor(patients) + plan.baseline_shift)
    exposure = rng.standard_exponential(replicates * n)
    death_day = np.full(replicates * n, np.inf)
    for j, effect in enumerate(plan.effects):
        in_arm = arms == j
        course = hazard_course(
            effect, h30[in_arm], patients["il6_pg_ml"][in_arm], plan.horizon_days
        )
        death_day[in_arm] = course.death_time(exposure[in_arm], plan.horizon_days)
    died = np.isfinite(death_day)
    observed = np.ones(replicates * n, dtype=bool)
    if plan.dropout_per_day > 0:
        dropout_day = rng.standard_exponential(replicates * n) / plan.dropout_per_day
        observed = dropout_day >= np.minimum(death_day, plan.horizon_days)

    arms2 = arms.reshape(replicates, n)
    died2 = (died & observed).reshape(replicates, n)
    observed2 = observed.reshape(replicates, n)
    looks = np.asarray(plan.look_patients) - 1
    counts = {}
    for j in range(len(plan.allocation)):
        in_arm = arms2 == j
        counts[j] = (
            np.cumsum(in_arm & observed2, axis=1, dtype=np.int32)[:, looks],
            np.cumsum(in_arm & died2, axis=1, dtype=np.int32)[:, looks],
            np.cumsum(in_arm, axis=1, dtype=np.int32),
            np.cumsum(in_arm & died.reshape(replicates, n), axis=1, dtype=np.int32),
        )

    tables, tallies = [], {}
    sims = np.arange(first_sim, first_sim + replicates, dtype=np.int64)
    for comparison in plan.comparisons:
        table, tally = _analyse(plan, comparison, counts, sims, n_looks_out)
        tables.append(table)
        tallies[comparison.label] = tally
    saved = None
    keep = max(0, min(save_patients - first_sim, replicates))
    if keep:
        saved = _patients_table(plan, patients, arms, death_day, observed, sims, keep)
    return ChunkResult(plan.index, chunk, pa.concat_tables(tables), tallies, saved)


def _analyse(
    plan: ScenarioPlan, comparison: Comparison, counts: dict, sims: np.ndarray, n_looks_out: int
) -> tuple[pa.Table, np.ndarray]:
    n_c, d_c, enrolled_c, deaths_c = counts[0]
    n_t, d_t, enrolled_t, deaths_t = counts[comparison.arm_index]
    z, estimate = two_proportion_z(d_c, n_c, d_t, n_t)
    stop, decision = _decide(plan, comparison, z)
    rows = np.arange(z.shape[0])
    look_months = np.asarray(plan.look_months)[stop]
    n = plan.sample_size
    n_enrolled = np.minimum(
        n,
        enrolled_by(look_months, plan.patients_per_month, plan.ramp_up_months).astype(np.int64),
    )
    n_enrolled = np.maximum(n_enrolled, np.asarray(plan.look_patients)[stop])
    z_out = np.full((z.shape[0], n_looks_out), np.nan)
    reached = np.arange(z.shape[1])[None, :] <= stop[:, None]
    z_out[:, : z.shape[1]] = np.where(reached, z, np.nan)
    z_stop = z[rows, stop]
    columns = {
        "scenario": pa.array([plan.name] * len(rows), pa.string()),
        "comparison": pa.array([comparison.label] * len(rows), pa.string()),
        "sim": pa.array(sims),
        "decision": pa.array(np.asarray(DECISIONS, dtype=object)[decision], pa.string()),
        "stop_look": pa.array((stop + 1).astype(np.int16)),
        "n_enrolled": pa.array(n_enrolled.astype(np.int32)),
        "n_control": pa.array(n_c[rows, stop]),
        "n_treatment": pa.array(n_t[rows, stop]),
        "events_control": pa.array(d_c[rows, stop]),
        "events_treatment": pa.array(d_t[rows, stop]),
        **{f"z_look_{k + 1}": pa.array(z_out[:, k]) for k in range(n_looks_out)},
        "estimate": pa.array(estimate[rows, stop]),
        "p_value": pa.array(ndtr(-z_stop)),
        "duration_months": pa.array(look_months),
    }
    last = n_enrolled - 1
    tally = np.array(
        [
            enrolled_c[rows, last].sum(),
            deaths_c[rows, last].sum(),
            enrolled_t[rows, last].sum(),
            deaths_t[rows, last].sum(),
        ],
        dtype=np.int64,
    )
    return pa.table(columns), tally


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
        fractions = np.asarray(plan.look_patients[:-1]) / plan.sample_size
        cp = conditional_power(
            z[:, :-1], fractions[None, :], comparison.efficacy_z[-1], z[:, :-1] / np.sqrt(fractions)
        )
        futility[:, :-1] |= cp < plan.conditional_power_below
    stops = efficacy | futility
    stops[:, -1] = True
    stop = np.argmax(stops, axis=1)
    rows = np.arange(z.shape[0])
    decision = np.where(efficacy[rows, stop], 1, np.where(futility[rows, stop], 2, 0))
    return stop, decision.astype(np.int8)


def _patients_table(
    plan: ScenarioPlan,
    patients: dict,
    arms: np.ndarray,
    death_day: np.ndarray,
    observed: np.ndarray,
    sims: np.ndarray,
    keep: int,
) -> pa.Table:
    n = plan.sample_size
    m = keep * n
    columns = {
        "scenario": pa.array([plan.name] * m, pa.string()),
        "sim": pa.array(np.repeat(sims[:keep], n)),
        "patient": pa.array(np.tile(np.arange(1, n + 1, dtype=np.int32), keep)),
        "arm": pa.array(np.asarray(plan.arm_names, dtype=object)[arms[:m]], pa.string()),
        "enrolment_month": pa.array(np.tile(plan.enrolment_months, keep)),
    }
    for name, covariate in COVARIATES.items():
        if name not in patients:
            continue
        values = patients[name][:m]
        if covariate.kind == "categorical":
            values = pa.array(np.asarray(covariate.levels, dtype=object)[values], pa.string())
        columns[name] = values
    finite = np.isfinite(death_day[:m])
    columns["death"] = finite
    columns["death_day"] = np.where(finite, death_day[:m], np.nan)
    columns["observed"] = observed[:m]
    return pa.table(columns)
