"""Permuted blocks keep every complete block exactly at the allocation ratio."""

import numpy as np

from cstrial.design.randomisation import BLOCK_REPEATS, permuted_blocks


def test_each_complete_block_holds_the_allocation_exactly():
    allocation = (2, 1, 1)
    arms = permuted_blocks(np.random.default_rng(1), 50, 203, allocation)
    block = sum(allocation) * BLOCK_REPEATS
    complete = arms[:, : (203 // block) * block].reshape(50, -1, block)
    for j, a in enumerate(allocation):
        np.testing.assert_array_equal((complete == j).sum(axis=2), a * BLOCK_REPEATS)


def test_orders_differ_between_replicates_and_blocks():
    arms = permuted_blocks(np.random.default_rng(2), 100, 40, (1, 1))
    assert len({tuple(row) for row in arms}) > 90


def test_overall_ratio_follows_allocation():
    arms = permuted_blocks(np.random.default_rng(3), 10, 1000, (2, 1))
    assert abs((arms == 0).mean() - 2 / 3) < 0.01
