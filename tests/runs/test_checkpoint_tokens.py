"""Checkpoints and resume on token tasks work as for control tasks (tests/runs/test_checkpoint.py,
tests/cli/): PPO with the causal transformer, whose key/value cache is the
policy's carry, kept in the training state between iterations; and GRPO through the command
line, whose state holds the frozen reference policy and whose summary holds the held-out
exact match.

Each test trains with checkpoints, drops the newest checkpoint (a crash after the one
before it), resumes, and asserts that the result equals the uninterrupted run bit for bit.
The uninterrupted run keeps its state in memory between its chunks (and chunked training
equals `train` bit for bit, tests/runs/test_checkpoint.py); the resumed run reads it from disk.
Kept to tiny sizes and few programs: compiling them is nearly all of this file's time.
"""

import contextlib
import csv
import io
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.runs import checkpoint
from pgjax.runs.driver import train_with_checkpoints

from pgjax import grpo, ppo
from pgjax.cli import main

ITERATIONS = 4  # of the command-line run: checkpoints after 2 and 4


def leaves(tree):
    """Every leaf as NumPy (PRNG keys as their raw data), for exact comparison."""
    as_data = lambda x: jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
    return [np.asarray(as_data(x)) for x in jax.tree.leaves(tree)]


def assert_identical(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(leaves(a), leaves(b)):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)  # NaN == NaN here, nothing else is tolerated


def test_ppo_transformer_resumed_from_a_checkpoint_equals_the_uninterrupted_run(tmp_path):
    """2 iterations of 3 steps, a checkpoint after each. Every answer is 2 tokens, so the
    first iteration ends one token into an answer: the key/value cache saved with it holds
    the prompt, the next step extends it by that token (no reset), and the resumed run can
    equal the uninterrupted one only if the checkpoint restored that cache. (This is also
    the suite's test that PPO trains the transformer on a token task: every metric finite.)"""
    config = ppo.Config.for_env(
        "Reverse2-tokens-v0", network="transformer", d_model=16, num_layers=1, num_heads=2, max_len=8, num_envs=8,
        num_steps=3, total_timesteps=8 * 3 * 2, update_epochs=1, num_minibatches=2)
    key, run_dir = jax.random.key(3), str(tmp_path / "run")
    # No callback: a program with a host callback is never written to the persistent
    # compilation cache, and the resumed run compiles the same chunk program again.
    state_straight, metrics_straight = train_with_checkpoints(ppo, config, key, run_dir, 1)
    assert metrics_straight["env_steps"].tolist() == [24, 48]
    for name, values in metrics_straight.items():
        if name != "episode_return":  # NaN where no episode finished in an iteration
            assert np.all(np.isfinite(np.asarray(values, float))), name
    assert checkpoint.all_steps(run_dir) == [1, 2]
    shutil.rmtree(os.path.join(run_dir, "2"))  # the crash: only the checkpoint after iteration 1 is left
    at_one, saved_config, history = checkpoint.restore(run_dir, ppo)
    assert saved_config == config and int(at_one.iteration) == 1
    assert_identical(history, jax.tree.map(lambda m: m[:1], metrics_straight))
    assert not np.any(np.asarray(at_one.reset))  # mid-answer everywhere: the cache is read next
    np.testing.assert_array_equal(at_one.carry.length, 3)  # "ab=", processed when acting on it

    state, metrics = train_with_checkpoints(ppo, config, key, run_dir, 1, resume=True)
    assert_identical(state, state_straight)  # params, optimiser state, the KV cache carry, env states, key
    assert_identical(metrics, metrics_straight)
    assert checkpoint.all_steps(run_dir) == [1, 2]


def run_main(args):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(args)
    return code, stdout.getvalue(), stderr.getvalue()


def rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_the_command_resumes_grpo_on_a_token_task_exactly_with_its_reference(tmp_path):
    """`pgjax train grpo Reverse2-tokens-v0 --checkpoint-every 2`, a crash after the first
    checkpoint, `pgjax train --resume`: the metrics hold each iteration once, with the first
    run's numbers; the final state (checkpoint 4) is the uninterrupted run's, its frozen
    reference policy included; the summary holds the held-out exact match, and the run folder
    the token task's figure."""
    out = tmp_path / "run"
    code, stdout, stderr = run_main([
        "train", "grpo", "Reverse2-tokens-v0", "--set", "num_envs=16", "num_groups=4", "group_size=4", "num_steps=2",
        "hidden_sizes=16", "update_epochs=1", "num_minibatches=2", "kl_coef=0.1", "--total-timesteps",
        str(16 * 2 * ITERATIONS), "--checkpoint-every", "2", "--eval-episodes", "4", "--no-progress", "--out", str(out)])
    assert code == 0, stderr
    assert "held-out      exact match" in stdout
    # Reward, KL to the reference and completion length, side by side, for a token task alone.
    assert (out / "token_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "token_curves.png" in stdout
    straight_rows = rows(out / "metrics.csv")
    assert [int(r["iteration"]) for r in straight_rows] == list(range(1, ITERATIONS + 1))
    straight_summary = json.loads((out / "summary.json").read_text())
    uninterrupted = tmp_path / "uninterrupted"
    shutil.copytree(out / "checkpoints", uninterrupted)

    # The crash: the newest checkpoint is gone, while metrics.csv already holds rows past it.
    shutil.rmtree(out / "checkpoints" / str(ITERATIONS))
    code, stdout, stderr = run_main(["train", "--resume", str(out), "--no-progress"])
    assert code == 0, stderr
    assert "from the checkpoint after iteration 2" in stdout
    resumed_rows = rows(out / "metrics.csv")
    assert [(int(r["seed"]), int(r["iteration"])) for r in resumed_rows] == [(0, i) for i in range(1, ITERATIONS + 1)]
    assert resumed_rows == straight_rows  # each iteration once, and the same numbers as the first time

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumed_from_iteration"] == 2
    assert summary["iterations_done"] == ITERATIONS == summary["last_checkpoint"]
    assert summary["heldout_prompts"] == 7 and len(summary["heldout_exact_match_per_seed"]) == 1
    assert 0 <= summary["heldout_exact_match_mean"] <= 1 and summary["heldout_length_mean"] == 2.0
    for name in ("heldout_exact_match_mean", "heldout_exact_match_per_seed", "eval_return_mean"):
        assert summary[name] == straight_summary[name], name  # the same policy at the end

    # The final state (checkpoint 4) is the uninterrupted run's: had the restore at iteration 2
    # lost the reference policy (or put the parameters there), the resumed run would have
    # trained against another reference and saved it.
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray([0]))  # the command's, for seed 0
    state, _, metrics = checkpoint.restore(str(out / "checkpoints"), grpo, key=keys)
    state_straight, _, metrics_straight = checkpoint.restore(str(uninterrupted), grpo, key=keys)
    assert int(state.iteration[0]) == ITERATIONS
    assert_identical(state, state_straight)  # params, optimiser state, reference, env states, key
    assert_identical(state.reference_params, state_straight.reference_params)
    assert not all(np.array_equal(a, b) for a, b in zip(leaves(state.reference_params), leaves(state.params)))
    assert_identical(metrics, metrics_straight)
    assert np.all(np.asarray(metrics["reference_kl"])[1:] > 0)  # the penalty saw a policy that moved away
