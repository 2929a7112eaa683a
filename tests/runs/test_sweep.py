"""Sweeps: grid validation before compiling, one program for all runs, per-run hyperparameters,
NaN runs isolated, summary statistics, and the same numbers when sharded over 4 devices."""

import csv
import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from pgjax.runs import checkpoint

from pgjax import ppo
from pgjax.report.plots import plot_sweep
from pgjax.runs.distributed import global_mesh, is_primary
from pgjax.runs.sweep import SweepResult, parse_grid, sweep, validate_grid

from tests.conftest import TINY_SIZES

# A learning rate this large sends the weights, then the value loss, to inf and the losses to NaN.
DIVERGING = 1e30


# ---------------------------------------------------------------- before compiling


@pytest.mark.parametrize(
    "grid, message",
    [
        ({"num_envs": [4, 8]}, "num_envs: is structural.*sweepable fields: .*learning_rate"),
        ({"hidden_sizes": [(16,), (32,)]}, "hidden_sizes: is structural"),
        ({"lerning_rate": [1e-3]}, "lerning_rate: unknown field.*sweepable fields: .*clip_eps"),
        ({"learning_rate": [1e-3, -1e-3]}, "learning_rate: must be > 0"),
        ({"gamma": [0.9, 1.5]}, r"gamma: must be in \[0, 1\]"),
        ({"clip_eps": []}, "clip_eps: grid values must be a non-empty list"),
        ({"clip_eps": 0.2}, "clip_eps: grid values must be a non-empty list"),
        ({"clip_eps": [True]}, "clip_eps: grid values must be numbers"),
        ({}, "grid: must name at least one field"),
    ],
)
def test_bad_grid_raises_naming_the_field(grid, message, tiny):
    with pytest.raises(ValueError, match=message):
        validate_grid(tiny("ppo"), grid)


def test_bad_num_seeds_raises(tiny):
    with pytest.raises(ValueError, match="num_seeds: must be a positive integer"):
        sweep(ppo, tiny("ppo"), {"learning_rate": [1e-3]}, 0, jax.random.key(0))


def test_parse_grid():
    assert parse_grid(["learning_rate=1e-3,3e-4", "clip_eps=0.1, 0.2", "vf_coef=1"]) == {
        "learning_rate": [1e-3, 3e-4], "clip_eps": [0.1, 0.2], "vf_coef": [1],
    }
    with pytest.raises(ValueError, match="clip_eps: 'x' is not a number"):
        parse_grid(["clip_eps=0.1,x"])
    with pytest.raises(ValueError, match="expected FIELD=V1,V2"):
        parse_grid(["clip_eps"])
    with pytest.raises(ValueError, match="clip_eps: given twice"):
        parse_grid(["clip_eps=0.1", "clip_eps=0.2"])


def test_global_mesh_spans_the_visible_devices():
    mesh = global_mesh()
    assert mesh.axis_names == ("runs",) and list(mesh.devices) == jax.devices()
    assert is_primary()  # one process: it writes the results


# ---------------------------------------------------------------- statistics (no training)


def synthetic_result(final_returns: np.ndarray, nan_loss_run: int | None = None) -> SweepResult:
    """A result of `P` points × `S` seeds whose last `episode_return` is `final_returns [P, S]`."""
    num_points, num_seeds = final_returns.shape
    runs = np.arange(num_points * num_seeds)
    episode_return = np.stack([np.full(runs.size, np.nan), final_returns.reshape(-1)])  # NaN before any episode
    loss = np.ones((2, runs.size))
    if nan_loss_run is not None:
        loss[0, nan_loss_run] = np.nan
    return SweepResult(
        fields=["clip_eps"],
        points=[{"clip_eps": 0.1 * (p + 1)} for p in range(num_points)],
        num_seeds=num_seeds,
        run_point=runs // num_seeds,
        run_seed=runs % num_seeds,
        metrics={"episode_return": episode_return, "loss": loss, "env_steps": np.array([[10] * runs.size, [20] * runs.size])},
    )


def test_summary_ranks_points_and_leaves_nan_runs_out():
    rng = np.random.default_rng(1)
    returns = rng.normal([[50.0], [200.0], [120.0]], 10.0, size=(3, 5))
    result = synthetic_result(returns, nan_loss_run=2 * 5 + 3)  # point 2, seed 3 diverged
    assert result.nan_runs() == [{"run": 13, "point": {"clip_eps": 0.30000000000000004}, "seed": 3, "first_iteration": 1, "metrics": ["loss"]}]

    summary = result.summary()
    assert [row["point"]["clip_eps"] for row in summary] == [0.2, 0.30000000000000004, 0.1]
    for row in summary:
        point = round(row["point"]["clip_eps"] * 10) - 1
        kept = np.delete(returns[point], 3) if point == 2 else returns[point]
        assert row["num_nan"] == (1 if point == 2 else 0)
        np.testing.assert_allclose(row["mean"], kept.mean())
        np.testing.assert_allclose(row["std"], np.sqrt(((kept - kept.mean()) ** 2).sum() / (len(kept) - 1)))
        assert row["ci_low"] < row["mean"] < row["ci_high"]
    assert result.summary() == summary  # the bootstrap RNG is seeded


def test_bootstrap_interval_matches_the_normal_approximation():
    # With many seeds the percentile bootstrap of the mean approaches mean ± 1.96·s/√n.
    returns = np.random.default_rng(2).normal(100.0, 20.0, size=(1, 400))
    row = synthetic_result(returns).summary()[0]
    half_width = 1.96 * returns.std(ddof=1) / np.sqrt(returns.size)
    np.testing.assert_allclose(row["ci_high"] - row["ci_low"], 2 * half_width, rtol=0.1)
    np.testing.assert_allclose((row["ci_high"] + row["ci_low"]) / 2, returns.mean(), atol=0.1 * half_width)


def test_episode_return_nan_before_the_first_episode_is_not_a_nan_run():
    result = synthetic_result(np.full((1, 2), 30.0))
    assert np.isnan(result.metrics["episode_return"][0]).all() and result.nan_runs() == []


# ---------------------------------------------------------------- one compiled sweep


@pytest.fixture(scope="module")
def small_sweep(tiny):
    seen = []
    result = sweep(
        ppo, tiny("ppo"), {"learning_rate": [1e-3, DIVERGING]}, 2, jax.random.key(5),
        callback=lambda metrics: seen.append(metrics),
    )
    return result, seen


def test_sweep_layout_and_per_run_hyperparameters(small_sweep, tiny):
    result, seen = small_sweep
    config = tiny("ppo")
    assert result.num_runs == 4
    np.testing.assert_array_equal(result.run_point, [0, 0, 1, 1])
    np.testing.assert_array_equal(result.run_seed, [0, 1, 0, 1])
    assert result.metrics["loss"].shape == (config.num_iterations, 4)
    # The progress callback fires once per iteration with every run's metrics.
    assert len(seen) == config.num_iterations
    assert all(m["loss"].shape == (4,) for m in seen)
    np.testing.assert_array_equal([m["env_steps"] for m in seen], result.metrics["env_steps"])
    # Each run trained with its own grid value (the first iteration's step size, before annealing).
    np.testing.assert_allclose(result.metrics["learning_rate"][0], np.float32([1e-3, 1e-3, DIVERGING, DIVERGING]))


def test_sweep_runs_equal_independent_training(small_sweep, tiny):
    result, _ = small_sweep
    train = jax.jit(ppo.train)  # the protocol test's program (learning_rate is traced)
    for seed, key in enumerate(jax.random.split(jax.random.key(5), 2)):  # point 0's seeds
        _, metrics = train(tiny("ppo", learning_rate=1e-3), key)
        for name in ("episode_return", "episode_count", "loss", "value_loss", "entropy"):
            np.testing.assert_allclose(result.metrics[name][:, seed], np.asarray(metrics[name]), rtol=1e-5, atol=1e-6,
                                       err_msg=name)


def test_diverged_runs_are_reported_without_spoiling_the_others(small_sweep, tmp_path):
    result, _ = small_sweep
    nan_runs = result.nan_runs()
    assert [(entry["point"], entry["seed"]) for entry in nan_runs] == [({"learning_rate": DIVERGING}, 0), ({"learning_rate": DIVERGING}, 1)]
    assert "loss" in nan_runs[0]["metrics"]
    best, diverged = result.summary()
    assert best["point"] == {"learning_rate": 1e-3} and best["num_nan"] == 0 and np.isfinite(best["mean"])
    assert diverged["num_nan"] == 2 and np.isnan(diverged["mean"])

    table = result.to_markdown().splitlines()
    assert table[0].startswith("| rank | learning_rate |") and table[2].startswith("| 1 | 0.001 |")
    result.to_csv(tmp_path / "runs.csv")
    rows = (tmp_path / "runs.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["run", "learning_rate", "seed"] and len(rows) == 1 + 4
    plot_sweep(result, tmp_path / "curves.png", "tiny sweep")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- 4 devices


SHARDED = textwrap.dedent(
    """
    import os
    # Before jax is imported. The 4 virtual devices are threads that meet at every collective;
    # when another test worker shares the 2 cores, one can be starved past XLA's default
    # 40 s rendezvous deadline, which aborts the process, so the deadlines are raised.
    os.environ["XLA_FLAGS"] = (
        "--xla_force_host_platform_device_count=4 --xla_cpu_collective_call_terminate_timeout_seconds=900 "
        "--xla_cpu_collective_call_warn_stuck_timeout_seconds=300 --xla_cpu_collective_timeout_seconds=900"
    )
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh
    from pgjax import ppo
    from pgjax.cli import main
    from pgjax.runs.distributed import global_mesh
    from pgjax.algorithms.scan import stack_runs
    from pgjax.runs.sweep import sweep
    from pgjax.runs.driver import train_runs_sharded

    config = ppo.Config.for_env("CartPole-v1", **{tiny})
    grid = {{"learning_rate": [1e-3, 3e-4, 1e-4], "clip_eps": [0.2]}}  # 3 points x 2 seeds = 6 runs
    assert global_mesh().size == 4
    one_device = Mesh(np.array(jax.devices()[:1]), ("runs",))
    seen = []
    # Every device (6 runs padded to 8), not the default's 3 devices of 2 runs each.
    sharded = sweep(ppo, config, grid, 2, jax.random.key(3), callback=seen.append, mesh=global_mesh())
    again = sweep(ppo, config, grid, 2, jax.random.key(3), callback=lambda metrics: None, mesh=global_mesh())
    single = sweep(ppo, config, grid, 2, jax.random.key(3), mesh=one_device)
    params = jax.tree.leaves(sharded.states.params)

    # `pgjax train --seeds 3` (by default on 3 of the 4 devices the XLA flag made), in
    # checkpointed chunks of 2 iterations, against the same 3 runs in one program on one device.
    four = {{**{tiny}, "total_timesteps": 4 * 32 * 4}}  # 4 iterations: two chunks of 2
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(5, 8))
    seeds_config = ppo.Config.for_env("CartPole-v1", **four)
    _, seeds_single, _, _ = train_runs_sharded(ppo, stack_runs(seeds_config, [{{}}], 3), keys, mesh=one_device)
    settings = ["{{}}={{}}".format(k, ",".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in four.items()]
    code = main(["train", "ppo", "CartPole-v1", "--seeds", "3", "--seed", "5", "--out", {cli_out!r}, "--no-progress",
                 "--checkpoint-every", "2", "--eval-episodes", "0", "--set", *settings])
    assert code == 0
    np.savez(
        {out!r},
        num_runs=sharded.num_runs, callback_runs=[m["loss"].shape[0] for m in seen],
        devices=len({{d for leaf in params for d in leaf.sharding.device_set}}),
        **{{"sharded_" + k: v for k, v in sharded.metrics.items()}},
        **{{"single_" + k: v for k, v in single.metrics.items()}},
        **{{"again_" + k: v for k, v in again.metrics.items()}},
        **{{"seeds_" + k: v for k, v in seeds_single.items()}},
    )
    """
)


def assert_same_runs(sharded, single, name):
    """Metrics of the same runs computed on 4 devices and on 1: another float program (another
    batch under vmap, reductions rounded in another order), so they agree to rounding early in
    a run and only statistically later. Over the first iteration they must agree closely."""
    if np.issubdtype(single.dtype, np.integer):
        np.testing.assert_array_equal(sharded, single, err_msg=name)
    else:
        np.testing.assert_allclose(sharded[:1], single[:1], rtol=1e-4, atol=1e-6, err_msg=name)
        assert np.isfinite(sharded).all() == np.isfinite(single).all(), name


@pytest.mark.serial
def test_sharded_over_four_devices_matches_one_device(tmp_path, tiny):
    """`sweep` on 4 devices and `pgjax train --seeds K` (with checkpoints) on as many as its runs
    fill repeat exactly and agree with 1 device to rounding at first, with padding when the run
    count does not divide the device count."""
    out, cli_out = str(tmp_path / "sharded.npz"), tmp_path / "cli"
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PGJAX_DEVICES")}
    config = tiny("ppo")
    sizes = {name: config.flat_fields()[name] for name in (*TINY_SIZES["ppo"], "hidden_sizes", "total_timesteps")}
    script = SHARDED.format(tiny=repr(sizes), out=out, cli_out=str(cli_out))
    completed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    saved = np.load(out)
    iterations = config.num_iterations
    assert saved["num_runs"] == 6 and saved["devices"] == 4  # 6 runs padded to 8, 2 per device, padding dropped
    assert list(saved["callback_runs"]) == [6] * iterations
    names = [k.removeprefix("single_") for k in saved.files if k.startswith("single_")]
    for name in names:
        single, sharded = saved["single_" + name], saved["sharded_" + name]
        assert single.shape == sharded.shape == (iterations, 6)
        # Same program, same device count: the same numbers, bit for bit.
        np.testing.assert_array_equal(saved["again_" + name], sharded, err_msg=name)
        assert_same_runs(sharded, single, name)

    # The command line: its 3 runs went on 3 of the 4 devices (one each, none padding), its
    # checkpoints hold the 3 runs, and its metrics (one row per seed and iteration) match 1 device.
    summary = json.loads((cli_out / "summary.json").read_text())
    assert summary["devices"] == 3 and summary["seeds"] == [5, 6, 7]
    assert sorted(os.listdir(cli_out / "checkpoints")) == ["2", "4"]
    state, _, _ = checkpoint.restore(str(cli_out / "checkpoints"), ppo, key=jax.random.PRNGKey(0))
    np.testing.assert_array_equal(state.iteration, [4] * 3)
    with open(cli_out / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 * 4
    for name in names:
        single = saved["seeds_" + name]
        from_cli = np.zeros_like(single)
        for row in rows:
            from_cli[int(row["iteration"]) - 1, int(row["seed"]) - 5] = float(row[name])
        assert_same_runs(from_cli, single, name)


# ---------------------------------------------------------------- token tasks


def test_a_token_sweep_over_kl_coef_plots_the_reward_vs_kl_frontier(tmp_path):
    import contextlib
    import io

    from pgjax.cli import main

    out, printed = tmp_path / "sweep", io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        code = main(["sweep", "grpo", "Reverse2-tokens-v0", "--set", "num_envs=16", "num_groups=4", "group_size=4",
                     "num_steps=2", "hidden_sizes=16", "update_epochs=1", "num_minibatches=2", "--total-timesteps",
                     "64", "--grid", "kl_coef=0,0.1", "--seeds", "1", "--no-progress", "--out", str(out)])
    assert code == 0
    assert (out / "reward_vs_kl.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "reward_vs_kl.png" in printed.getvalue()
