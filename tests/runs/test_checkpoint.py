"""Checkpoints: chunked + saved + restored training equals straight training bit for bit, and a
half-written checkpoint never replaces the last complete one."""

import os
import shutil

import jax
import numpy as np
import pytest

from pgjax.algorithms.config_io import config_from_json, config_to_json
from pgjax.runs import checkpoint
from pgjax.runs.driver import train_with_checkpoints

from pgjax import ppo

@pytest.fixture(scope="module")
def small(tiny):
    """`small(**overrides)`: 4 iterations of the tiny PPO, for checkpoints every 2."""
    return lambda **overrides: tiny("ppo", iterations=4, **overrides)


def leaves(tree):
    """Every leaf as NumPy (PRNG keys as their raw data), for exact comparison."""
    as_data = lambda x: jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
    return [np.asarray(as_data(x)) for x in jax.tree.leaves(tree)]


def assert_identical(a, b):
    left, right = leaves(a), leaves(b)
    assert len(left) == len(right)
    for x, y in zip(left, right):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)  # NaN == NaN here, nothing else is tolerated


@pytest.fixture(scope="module")
def straight(small):
    """4 iterations in one compiled `train`."""
    return jax.jit(ppo.train)(small(), jax.random.key(7))


def test_config_round_trips_through_json(small):
    config = small(hidden_sizes=(8, 4), env_params=(("max_steps_in_episode", 50),), clip_eps=0.3)
    assert config_from_json(ppo, config_to_json(config)) == config


def test_bad_arguments_raise_naming_the_field(tmp_path, small):
    with pytest.raises(ValueError, match="every_iterations: must be a positive integer"):
        train_with_checkpoints(ppo, small(), jax.random.key(0), str(tmp_path / "run"), 0)
    with pytest.raises(ValueError, match="run_dir: .* holds no complete checkpoint"):
        checkpoint.restore(str(tmp_path / "missing"), ppo)


def test_chunked_interrupted_and_resumed_equals_straight(tmp_path, straight, small):
    state_straight, metrics_straight = straight
    run_dir = str(tmp_path / "run")
    key = jax.random.key(7)

    state_chunked, metrics_chunked = train_with_checkpoints(ppo, small(), key, run_dir, every_iterations=2)
    assert checkpoint.latest_step(run_dir) == 4
    assert_identical(state_chunked, state_straight)
    assert_identical(metrics_chunked, metrics_straight)

    # The checkpoint on disk holds the same state, config and metrics.
    state_loaded, config_loaded, metrics_loaded = checkpoint.restore(run_dir, ppo)
    assert config_loaded == small()
    assert_identical(state_loaded, state_straight)
    assert_identical(metrics_loaded, metrics_straight)

    # Interrupt after N/2: drop the last checkpoint, then resume from the one at 2 iterations.
    shutil.rmtree(os.path.join(run_dir, "4"))
    assert checkpoint.latest_step(run_dir) == 2
    seen = []
    state_resumed, metrics_resumed = train_with_checkpoints(
        ppo, small(), key, run_dir, every_iterations=2, callback=lambda m: seen.append(int(m["env_steps"])), resume=True
    )
    assert seen == [3 * small().batch_size, 4 * small().batch_size]  # only the resumed iterations ran
    assert_identical(state_resumed, state_straight)
    assert_identical(metrics_resumed, metrics_straight)
    assert_identical(state_resumed.params, state_straight.params)
    assert_identical(state_resumed.opt_state, state_straight.opt_state)

    # A half-written checkpoint (a crash during orbax's write to its temporary directory) is
    # ignored: the last complete one is still the latest and restores intact.
    partial = os.path.join(run_dir, "6.orbax-checkpoint-tmp-1700000000")
    os.makedirs(os.path.join(partial, "state"))
    with open(os.path.join(partial, "state", "partial.bin"), "wb") as file:
        file.write(b"\0" * 10)
    assert checkpoint.latest_step(run_dir) == 4
    assert_identical(checkpoint.restore(run_dir, ppo)[0], state_straight)
    # Resuming a finished run trains nothing and returns the saved run.
    state_again, metrics_again = train_with_checkpoints(ppo, small(), key, run_dir, 2, resume=True)
    assert_identical(state_again, state_straight)
    assert_identical(metrics_again, metrics_straight)

    with pytest.raises(ValueError, match="run_dir: .* already holds checkpoints"):
        train_with_checkpoints(ppo, small(), key, run_dir, 2)
    with pytest.raises(ValueError, match="config: differs .* clip_eps"):
        train_with_checkpoints(ppo, small(clip_eps=0.3), key, run_dir, 2, resume=True)


def test_several_runs_chunked_equal_one_program(tmp_path, small):
    """K runs (a batch of keys) in checkpointed chunks equal the one-program `train_runs_sharded`
    that `pgjax train --seeds K` uses, bit for bit, and restore with their run axis. (Resuming
    them is tested through the command line in tests/cli/.)"""
    from pgjax.algorithms.scan import stack_runs
    from pgjax.runs.driver import train_runs_sharded

    keys = jax.random.split(jax.random.key(11), 2)
    states_straight, metrics_straight, _, _ = train_runs_sharded(ppo, stack_runs(small(), [{}], 2), keys)
    run_dir = str(tmp_path / "runs")
    compiled, seen = [], []
    states_chunked, metrics_chunked = train_with_checkpoints(
        ppo, small(), keys, run_dir, every_iterations=2, callback=seen.append, on_compiled=compiled.append
    )
    assert len(compiled) == 1 and compiled[0] > 0
    assert [m["env_steps"].tolist() for m in seen] == [[i * small().batch_size] * 2 for i in range(1, 5)]
    assert metrics_chunked["loss"].shape == (small().num_iterations, 2)
    assert_identical(states_chunked, states_straight)
    assert_identical(metrics_chunked, metrics_straight)

    assert sorted(os.listdir(run_dir)) == ["2", "4"]
    state_loaded, _, metrics_loaded = checkpoint.restore(run_dir, ppo, key=keys)
    assert_identical(state_loaded, states_straight)
    assert_identical(metrics_loaded, metrics_straight)
    with pytest.raises(ValueError, match="key: .* holds 2 run"):
        train_with_checkpoints(ppo, small(), keys[0], run_dir, 2, resume=True)
