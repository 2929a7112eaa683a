"""The README's building-block example runs as printed and learns, on several seeds."""

import contextlib
import io

import numpy as np
import pytest

from tests.docs.pages import python_block_after

SEEDS = 3


@pytest.mark.learning
def test_building_block_example_runs_and_learns(seed_offset):
    source = python_block_after("## Python")
    assert source.count("jax.random.key(0)") == 1  # the seed this test moves
    returns = []
    for seed in range(seed_offset, seed_offset + SEEDS):
        namespace: dict = {}
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(source.replace("jax.random.key(0)", f"jax.random.key({seed})"), "README.md", "exec"), namespace)
        assert "mean return of the last episodes" in printed.getvalue()
        returns.append(float(namespace["mean_return"]))
    # At least 2 of 3 seeds end above 200 (most reach 500).
    assert np.sum(np.asarray(returns) > 200) >= 2, returns
