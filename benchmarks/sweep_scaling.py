"""Sweep scaling: how many runs one compiled program can hold.

PPO on CartPole-v1 at the classic settings (4 envs × 128 steps, 4 epochs × 4 minibatches,
64-64 tanh). R = 1, 8, 64, 256 runs are trained in one program exactly as `pgjax.runs.sweep`
trains a grid: every numeric hyperparameter is an `[R]` leaf (`pgjax.algorithms.scan.stack_runs`) and the
runs are laid out over the devices by `pgjax.runs.RunSharding` (`shard_map` of
`pgjax.algorithms.scan.train_runs`). For each R: compile seconds (ahead of time, apart from the run) and
env-steps/s over all runs (median of 3 runs with min–max). The same again with
4 forced host devices (`XLA_FLAGS=--xla_force_host_platform_device_count=4`, in a subprocess,
since the flag must be set before JAX starts).

Run: `python -m benchmarks.sweep_scaling [--quick]` → `benchmarks/sweep_scaling.md` + `.png`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import jax
import numpy as np

from benchmarks import common
from benchmarks.ppo_throughput import classic_config
from pgjax import ppo
from pgjax.algorithms import scan
from pgjax.runs import RunSharding, global_mesh

RUNS = (1, 8, 64, 256)
FORCED_DEVICES = 4


def steps_per_run(num_runs: int, quick: bool) -> int:
    """Per-run length: ≈2^18 env steps per timed call over all runs (so small R is not timed on a
    few milliseconds), at least 8 iterations of 512 steps per run. Throughput is per iteration,
    so the length (and with it the learning-rate anneal) does not change the rate measured."""
    if quick:
        return 2 * 512
    return max(8 * 512, 2**18 // num_runs // 512 * 512)


def measure(num_runs: int, total_timesteps: int, repeats: int = 3) -> dict:
    """Compile seconds and the timing of `num_runs` runs in one sharded program on all visible devices."""
    config = classic_config(total_timesteps)
    layout = RunSharding(num_runs, global_mesh())
    program, out_shardings = layout.program(lambda c, k: scan.train_runs(ppo.init, ppo.update, c, k))
    configs, keys = layout.place((scan.stack_runs(config, [{}], num_runs), jax.random.split(jax.random.key(0), num_runs)))
    _, compile_s, timing, _ = common.compile_and_time(program, configs, keys, repeats=repeats, out_shardings=out_shardings)
    env_steps = num_runs * config.num_iterations * config.batch_size  # padding runs not counted
    return {"runs": num_runs, "devices": layout.mesh.size, "padded": layout.num_padded, "steps_per_run": total_timesteps,
            "compile_s": compile_s, "samples": list(timing.samples), "env_steps": env_steps}


def measure_all(quick: bool) -> list[dict]:
    counts = RUNS[:2] if quick else RUNS
    results = []
    for num_runs in counts:
        common.log(f"sweep_scaling: {num_runs} runs on {len(jax.devices())} device(s)")
        results.append(measure(num_runs, steps_per_run(num_runs, quick), repeats=3))
    return results


def forced_devices(quick: bool) -> list[dict]:
    """`measure_all` in a subprocess that sees `FORCED_DEVICES` CPU devices."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={FORCED_DEVICES}"}
    command = [sys.executable, "-m", "benchmarks.sweep_scaling", "--child", *(["--quick"] if quick else [])]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=common.BENCH_DIR.parent, timeout=900)
    if completed.returncode != 0:
        raise RuntimeError(f"forced-device subprocess failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def rows_of(results: list[dict]) -> list[list]:
    rows = []
    for r in results:
        timing = common.Timing(tuple(r["samples"]))
        per_run = timing.median and r["env_steps"] / timing.median / r["runs"]
        rows.append([
            r["runs"], f"{r['devices']}" + (f" ({r['padded']} with padding)" if r["padded"] != r["runs"] else ""),
            f"{r['steps_per_run']:,}", f"{r['compile_s']:.2f}", timing.seconds(), timing.rate_str(r["env_steps"]),
            common._sci(per_run),
        ])
    return rows


def main(quick: bool = False, summary: dict | None = None) -> str:
    """Measure, write `sweep_scaling.md` + `.png`, return the markdown."""
    one = measure_all(quick)
    common.log(f"sweep_scaling: the same with {FORCED_DEVICES} forced host devices (subprocess)")
    forced = forced_devices(quick)
    if summary is not None:
        summary["sweep_scaling"] = {
            f"{r['devices']}dev": {r["runs"]: r["env_steps"] / common.Timing(tuple(r["samples"])).median for r in results}
            for results in (one, forced) for r in results[:1]
        }

    markdown = common.header(
        "Sweep scaling: runs per compiled program, one and four devices",
        notes=[
            *(["QUICK smoke run — not a measurement."] if quick else []),
            "PPO, CartPole-v1, classic settings (4 envs × 128 steps, 4 epochs × 4 minibatches, 64-64 tanh). "
            "R runs in one program as `pgjax.runs.sweep` builds it: per-run hyperparameter leaves `[R]`, "
            "`shard_map` over a 1-D device mesh (`pgjax.runs.RunSharding`).",
            "env-steps/s counts all real runs (not padding runs); per-run length chosen so each timed call does "
            "≈2^18 env steps in all, at least 4,096 per run.",
            f"{FORCED_DEVICES} devices: `XLA_FLAGS=--xla_force_host_platform_device_count={FORCED_DEVICES}` on the "
            "same CPU. The forced devices share its cores, so this shows what the sharding costs or gains on "
            "one host, not what 4 accelerators would give.",
        ],
    )
    headers = ["runs", "devices", "steps / run", "compile s", "run time", "env-steps/s (all runs)", "env-steps/s per run"]
    markdown += "\n### One device\n\n" + common.table(headers, rows_of(one))
    markdown += f"\n### {FORCED_DEVICES} forced host devices\n\n" + common.table(headers, rows_of(forced))

    figure, (ax_rate, ax_compile) = common.new_figure(ncols=2, width=4.8)
    for results, label in ((one, "1 device"), (forced, f"{FORCED_DEVICES} forced host devices")):
        runs = np.array([r["runs"] for r in results])
        rates = np.array([common.Timing(tuple(r["samples"])).rate(r["env_steps"]) for r in results])  # median, low, high
        ax_rate.errorbar(runs, rates[:, 0], yerr=[rates[:, 0] - rates[:, 1], rates[:, 2] - rates[:, 0]],
                         fmt="o-", capsize=3, label=label)
        ax_compile.plot(runs, [r["compile_s"] for r in results], "o-", label=label)
    for ax, ylabel in ((ax_rate, "env-steps / s (all runs)"), (ax_compile, "compile seconds")):
        ax.set_xscale("log", base=2)
        ax.set_xticks([r["runs"] for r in one], [str(r["runs"]) for r in one])
        ax.set_xlabel("runs in one program")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    ax_rate.set_yscale("log")
    markdown += "\n" + common.save_figure(figure, "sweep_scaling")
    return common.write_section("sweep_scaling", markdown)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small step counts, for a smoke run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # the forced-device subprocess
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_all(args.quick)))
    else:
        print(main(args.quick))
