"""Allocation of enrolled patients to arms by permuted blocks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Each block holds the allocation pattern this many times (1:1 -> blocks of 4).
BLOCK_REPEATS = 2


def permuted_blocks(
    rng: np.random.Generator, replicates: int, n_patients: int, allocation: Sequence[int]
) -> np.ndarray:
    """Arm index of each patient, shape (replicates, n_patients), in enrolment order.

    Blocks hold each arm `allocation[j] * BLOCK_REPEATS` times in random order; the
    last block is cut at `n_patients`, as in a real trial that stops enrolling.
    """
    pattern = np.repeat(np.arange(len(allocation), dtype=np.int8), allocation)
    block = np.tile(pattern, BLOCK_REPEATS)
    n_blocks = -(-n_patients // block.size)
    blocks = np.broadcast_to(block, (replicates, n_blocks, block.size))
    arms = rng.permuted(blocks, axis=2)
    return arms.reshape(replicates, n_blocks * block.size)[:, :n_patients]
