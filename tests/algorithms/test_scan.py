"""The in-program scan of `update` (`pgjax.algorithms.scan`): how a block of iterations' metrics
reaches the host. The blocks' driver on the host: tests/runs/test_driver.py."""

import numpy as np
import pytest

from pgjax.algorithms import scan


def test_hand_block_calls_per_iteration_or_once_with_the_block():
    block = {"iteration": np.arange(1, 5), "loss": np.zeros((4, 2))}
    seen = []
    assert not scan.hand_block(lambda m: seen.append((int(m["iteration"]), m["loss"].shape)), block)
    assert seen == [(1, (2,)), (2, (2,)), (3, (2,)), (4, (2,))]
    assert scan.hand_block(lambda m: int(m["iteration"]) == 3, block)  # any True answer stops
    assert not scan.hand_block(lambda m: "yes", block)  # only a real True counts

    class Blocks:
        def report_block(self, metrics):
            seen.append(metrics["iteration"].tolist())
            return np.bool_(True)

    seen.clear()
    assert scan.hand_block(Blocks(), block) and seen == [[1, 2, 3, 4]]


def test_a_report_block_is_the_largest_divisor_of_the_iterations_within_report_every():
    assert [scan.block_length(12, k) for k in (1, 2, 3, 4, 5, 6, 7, 12, 100)] == [1, 2, 3, 4, 4, 6, 6, 12, 12]
    assert scan.block_length(7, 5) == 1  # a prime count: one iteration per block
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="^report_every: must be a positive integer"):
            scan.block_length(12, bad)
