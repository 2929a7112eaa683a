"""Training driven from the host (`pgjax.runs.driver`): the report loop, and that the commands'
programs can be kept by JAX's persistent compilation cache."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pgjax.runs.driver import run_reported


class CountingRunner:
    """A stand-in runner: the state is the iteration count; a block of `n` iterations returns
    metrics `iteration [n]`. It records every block it was asked to run."""

    def __init__(self):
        self.dispatched = []

    def run(self, state, length):
        self.dispatched.append(state)
        return state + length, {"iteration": np.arange(state + 1, state + length + 1)}

    def host_metrics(self, metrics):
        return {name: np.asarray(values) for name, values in metrics.items()}


def test_every_iteration_is_reported_once_in_order():
    runner, seen = CountingRunner(), []
    state, metrics, stopped = run_reported(runner, 0, 12, 4, lambda m: seen.append(int(m["iteration"])))
    assert (state, stopped) == (12, False)
    assert seen == list(range(1, 13))
    np.testing.assert_array_equal(metrics["iteration"], np.arange(1, 13))
    assert runner.dispatched == [0, 4, 8]  # each block once, from the state the one before left


def test_a_stop_takes_effect_at_the_end_of_its_block_and_the_queued_block_is_dropped():
    runner, seen = CountingRunner(), []

    def callback(m):
        seen.append(int(m["iteration"]))
        return int(m["iteration"]) == 6  # asked in the middle of the second block

    state, metrics, stopped = run_reported(runner, 0, 16, 4, callback)
    assert stopped and state == 8  # the second block ran to its end; nothing after it is kept
    assert seen == list(range(1, 9))
    np.testing.assert_array_equal(metrics["iteration"], np.arange(1, 9))
    # The third block was already queued when the stop came (the device never waits for the host).
    assert runner.dispatched == [0, 4, 8]


def test_a_callback_with_report_block_gets_each_block_once():
    class BlockCallback:
        def __init__(self):
            self.blocks = []

        def __call__(self, metrics):
            raise AssertionError("report_block is there, so no call per iteration")

        def report_block(self, metrics):
            self.blocks.append(metrics["iteration"].tolist())
            return len(self.blocks) == 2

    runner, callback = CountingRunner(), BlockCallback()
    state, metrics, stopped = run_reported(runner, 0, 16, 4, callback)
    assert callback.blocks == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert stopped and state == 8 and runner.dispatched == [0, 4, 8]


def test_without_a_callback_the_blocks_just_run():
    state, metrics, stopped = run_reported(CountingRunner(), 0, 6, 6)
    assert (state, stopped, len(metrics["iteration"])) == (6, False, 6)


def test_a_block_must_divide_the_iterations():
    with pytest.raises(ValueError, match="block: must divide num_iterations"):
        run_reported(CountingRunner(), 0, 10, 4)


def test_the_commands_training_program_is_kept_by_the_persistent_cache(tmp_path):
    # JAX never stores a program holding a host callback; the command's progress reporting
    # once lived inside its training program, which was then compiled anew by every run.
    # The command turns the cache on itself (here in the folder PGJAX_COMPILE_CACHE names), and
    # a second run with the same shapes loads every program: it adds no entry. The command
    # chooses its device count itself (one seed: one device of the CPU it split), and records it.
    cache = tmp_path / "cache"
    env = {name: value for name, value in os.environ.items()
           if name not in ("JAX_COMPILATION_CACHE_DIR", "PGJAX_DEVICES", "XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env.update(PGJAX_COMPILE_CACHE=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    command = [sys.executable, "-m", "pgjax", "train", "--total-timesteps", "1024", "--set", "num_envs=4",
               "num_steps=64", "hidden_sizes=16", "--eval-episodes", "0", "--checkpoint-every", "2",
               "--out", str(tmp_path / "run")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["devices"] == 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["devices"] == 1
    assert "devices: 1 run on 1 cpu device (one per core; --devices D pins the count)" in result.stderr
    entries = os.listdir(cache)
    assert any(name.startswith("jit_continue_runs-") for name in entries), entries
    assert any(name.startswith("jit_init-") for name in entries), entries
    again = subprocess.run([*command, "--overwrite", "--no-progress"], capture_output=True, text=True, timeout=600,
                           env={**env, "JAX_DEBUG_LOG_MODULES": "jax._src.compiler"})
    assert again.returncode == 0, again.stderr[-2000:]
    for program in ("jit_init", "jit_continue_runs"):
        assert f"Persistent compilation cache hit for '{program}'" in again.stderr, again.stderr[-2000:]
    assert sorted(os.listdir(cache)) == sorted(entries)  # loaded, not compiled
