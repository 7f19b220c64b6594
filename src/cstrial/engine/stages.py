"""A trial's stages: what each stage enrols, and its randomisation in permuted blocks.

A trial advances look by look. Stage k enrols the patients between look k-1's and
look k's (in enrolment order), under the stage plan in force after look k-1: how
many patients, which arms are open and with what allocation, and from which
population. A fixed or group-sequential design without adaptation keeps its first
plan throughout; adaptive designs (arm selection, sample-size re-estimation,
enrichment) return a new plan at an interim. Everything is an array over the
trials of a chunk.

Randomisation restarts at each stage in permuted blocks of `BLOCK_REPEATS` times the
open arms' allocation (a stage that ends mid-block ends its last block early, as a
trial that stops enrolling does). Adaptations take effect from the stage's first
patient, as in rpact's and East's simulations of adaptive designs: the patients
enrolled while an interim's outcomes mature are assumed randomised under the
adapted plan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cstrial.design.randomisation import BLOCK_REPEATS

FULL, SUBGROUP = 0, 1  # a stage's population: everyone eligible, or the enrichment subgroup


@dataclass(frozen=True)
class StagePlan:
    """What the next stage of each trial enrols (arrays over the trials, row r = trial r).

    `patients` (R,) the stage's patients (patients followed up at its look, less those
    at the previous look); `allocation` (R, A) each arm's share of a randomisation
    block (0: the arm is closed); `population` (R,) `FULL` or `SUBGROUP` (adaptive
    enrichment); `events` (R,) time to event: the deaths that trigger the stage's look.
    """

    patients: np.ndarray
    allocation: np.ndarray
    population: np.ndarray
    events: np.ndarray

    @classmethod
    def fixed(
        cls, trials: int, patients: int, allocation: tuple[int, ...], events: int = 0
    ) -> StagePlan:
        """Every trial enrols `patients` into every arm at the protocol's allocation."""
        return cls(
            np.full(trials, patients, dtype=np.int64),
            np.broadcast_to(np.asarray(allocation, dtype=np.int64), (trials, len(allocation))),
            np.full(trials, FULL, dtype=np.int8),
            np.full(trials, events, dtype=np.int64),
        )

    def rows(self, rows: np.ndarray) -> StagePlan:
        """The plans of trials `rows`."""
        return StagePlan(
            self.patients[rows], self.allocation[rows], self.population[rows], self.events[rows]
        )

    def with_patients(self, patients: np.ndarray) -> StagePlan:
        return replace(self, patients=np.asarray(patients, dtype=np.int64))

    def with_events(self, events: np.ndarray) -> StagePlan:
        return replace(self, events=np.asarray(events, dtype=np.int64))

    def with_allocation(self, allocation: np.ndarray) -> StagePlan:
        return replace(self, allocation=np.asarray(allocation, dtype=np.int64))

    def with_population(self, population: np.ndarray) -> StagePlan:
        return replace(self, population=np.asarray(population, dtype=np.int8))

    def with_rows(self, rows: np.ndarray, new: StagePlan) -> StagePlan:
        """These plans, with trials `rows` given `new`'s (copies)."""

        def put(values: np.ndarray, replacement: np.ndarray) -> np.ndarray:
            out = np.array(values, copy=True)
            out[rows] = replacement
            return out

        return StagePlan(
            put(self.patients, new.patients),
            put(self.allocation, new.allocation),
            put(self.population, new.population),
            put(self.events, new.events),
        )

    def changed(self, other: StagePlan) -> np.ndarray:
        """Trials whose arms, allocation or population differ from `other`'s (same rows)."""
        return (self.allocation != other.allocation).any(axis=1) | (
            self.population != other.population
        )

    @property
    def open_arms(self) -> np.ndarray:
        return self.allocation > 0


def arm_counts(rng: np.random.Generator, plan: StagePlan) -> np.ndarray:
    """Patients randomised to each arm in a stage, (R, A): whole blocks by the pattern, and the
    last, partial block by a multivariate hypergeometric draw (sequential, vectorised)."""
    block = plan.allocation * BLOCK_REPEATS  # (R, A) patients of each arm in a block
    size = block.sum(axis=1)
    whole, left = np.divmod(plan.patients, size)
    counts = whole[:, None] * block
    remaining = size.copy()
    for a in range(block.shape[1] - 1):
        # arm a's share of the `left` patients drawn without replacement from the block
        taken = _hypergeometric(rng, block[:, a], remaining - block[:, a], left)
        counts[:, a] += taken
        left = left - taken
        remaining = remaining - block[:, a]
    counts[:, -1] += left
    return counts


def _hypergeometric(
    rng: np.random.Generator, good: np.ndarray, bad: np.ndarray, draws: np.ndarray
) -> np.ndarray:
    out = np.zeros_like(draws)
    some = (draws > 0) & (good > 0)
    if some.any():
        out[some] = rng.hypergeometric(good[some], bad[some], draws[some])
    return out


def permuted_arms(rng: np.random.Generator, plan: StagePlan, width: int) -> np.ndarray:
    """Each patient's arm in enrolment order, (R, width): permuted blocks among the open arms,
    cut at each trial's `patients` (-1 beyond it)."""
    trials, arms = plan.allocation.shape
    block = plan.allocation * BLOCK_REPEATS
    size = int(block.sum(axis=1).max())
    # one block pattern per trial, padded with -1 where a trial's block is smaller
    pattern = np.full((trials, size), -1, dtype=np.int8)
    ends = np.cumsum(block, axis=1)
    position = np.arange(size)
    for a in range(arms):
        start = ends[:, a] - block[:, a]
        pattern[(position >= start[:, None]) & (position < ends[:, a][:, None])] = a
    n_blocks = -(-width // size) if size else 0
    blocks = np.broadcast_to(pattern[:, None, :], (trials, n_blocks, size))
    shuffled = rng.permuted(blocks, axis=2).reshape(trials, -1)
    if (block.sum(axis=1) < size).any():  # drop the padding, keeping each trial's order
        keep = shuffled >= 0
        order = np.argsort(~keep, axis=1, kind="stable")
        shuffled = np.take_along_axis(shuffled, order, axis=1)
    arms_of = shuffled[:, :width]
    arms_of = np.where(np.arange(width)[None, :] < plan.patients[:, None], arms_of, -1)
    return arms_of.astype(np.int8)
