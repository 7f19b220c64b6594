"""Pooled enrolment: each enrolled virtual patient serves `simulation.patient_reuse` trials.

Drawing a patient costs about 3 screened candidates of 13 covariates each; the
trial around the patient costs a few draws. A pool of eligible patients is
therefore enrolled once and served in `patient_reuse` passes: the first pass in
enrolment order, each later pass in a fresh random permutation, every trial of a
pass taking the next `sample_size` patients. A trial's patients are distinct pool
members chosen independently of their values, so each trial is an iid sample of
the eligible population, exactly as without reuse, and every expectation (power,
type I error, expected duration) is unchanged. Trials of different passes share
patients, which inflates the Monte Carlo variance by `design_effect` (docs/scale.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from cstrial.disease import linear_predictor
from cstrial.population import Criteria, Patients, enroll

# Patients simulated at once inside a chunk: bounds a worker's memory (about 150 bytes
# per patient) whatever the chunk size. Part of the random stream's definition.
BLOCK_PATIENTS = 1 << 19
# With reuse, trials are simulated in blocks of about this many patients: arrays that
# stay in a core's cache are faster than larger ones, and blocks this size keep Python's
# per-block overhead small. Part of the random stream's definition for reuse > 1.
REUSE_BLOCK_PATIENTS = 1 << 15


@dataclass(frozen=True)
class Enrolment:
    """Who is enrolled, and how often a pooled patient serves (`cstrial.engine.pool`)."""

    sample_size: int
    criteria: Criteria
    eligible_fraction: float
    baseline_shift: float  # added to every patient's linear predictor (calibration)
    patient_reuse: int = 1


class PoolView(Mapping):
    """The covariates of some pool members, gathered from the pool when first asked for.

    Most analyses need none of the 13 covariates, so a pass copies only what the
    simulation reads (IL-6 for the treatment effect, say) instead of all of them.
    """

    def __init__(
        self, pool: Patients, rows: np.ndarray | slice, shape: tuple[int, ...] | None = None
    ) -> None:
        self._pool = pool
        self._rows = rows
        self._shape = shape
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self._pool[name][self._rows]
        values = self._cache[name]
        return values if self._shape is None else values.reshape(self._shape)

    def __iter__(self) -> Iterator[str]:
        return iter(self._pool)

    def __len__(self) -> int:
        return len(self._pool)

    def reshaped(self, shape: tuple[int, ...]) -> PoolView:
        """The same patients as arrays of `shape` (replicates, patients), sharing the gathers."""
        view = PoolView(self._pool, self._rows, shape)
        view._cache = self._cache
        return view


def trial_blocks(
    enrolment: Enrolment, rng: np.random.Generator, replicates: int
) -> Iterator[tuple[int, int, PoolView, np.ndarray]]:
    """A chunk's trials in blocks: (first replicate, trials, their patients, their eta).

    A pool holds the patients of at most `BLOCK_PATIENTS // sample_size` trials and
    serves up to `enrolment.patient_reuse` passes; its trials (pass after pass) are cut
    into blocks of at most `BLOCK_PATIENTS` patients, so a block may span passes. With
    reuse 1 every block enrols its own patients. `eta` is the patients' shifted linear
    predictor (log 30-day cumulative hazard under control).
    """
    n = enrolment.sample_size
    reuse = enrolment.patient_reuse
    block = max(1, BLOCK_PATIENTS // n)
    pool_trials = block if reuse == 1 else min(block, -(-replicates // reuse))
    if reuse > 1:
        block = max(1, REUSE_BLOCK_PATIENTS // n)
    start = 0
    while start < replicates:
        trials = min(pool_trials, replicates - start)
        pool, _ = enroll(rng, trials * n, enrolment.criteria, enrolment.eligible_fraction)
        eta = linear_predictor(pool) + enrolment.baseline_shift
        served = min(reuse * trials, replicates - start)
        passes = _Passes(rng, trials * n)
        for first in range(0, served, block):
            size = min(block, served - first)
            rows = passes.rows(first * n, (first + size) * n)
            yield start + first, size, PoolView(pool, rows), eta[rows]
        start += served


class _Passes:
    """The pool's rows pass after pass: the first in order, each later one a fresh permutation.

    Permutations are drawn from the chunk's generator when first needed, in pass order,
    and dropped once passed.
    """

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self._rng = rng
        self._size = size
        self._drawn: dict[int, np.ndarray] = {}

    def rows(self, begin: int, end: int) -> np.ndarray | slice:
        """Rows of positions [begin, end) of the passes laid end to end."""
        if end <= self._size:  # all in the first pass: the pool in enrolment order
            return slice(begin, end)
        parts = []
        for p in range(begin // self._size, -(-end // self._size)):
            low = max(begin, p * self._size) - p * self._size
            high = min(end, (p + 1) * self._size) - p * self._size
            parts.append(self._pass(p)[low:high])
        for p in [q for q in self._drawn if q < (end - 1) // self._size]:
            del self._drawn[p]
        return np.concatenate(parts)

    def _pass(self, p: int) -> np.ndarray:
        if p == 0:
            return np.arange(self._size, dtype=np.int32)
        if p not in self._drawn:
            # rng.permutation(size), as int32: the same draws, half the memory traffic
            rows = np.arange(self._size, dtype=np.int32)
            self._rng.shuffle(rows)
            self._drawn[p] = rows
        return self._drawn[p]
