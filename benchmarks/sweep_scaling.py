"""Sweep scaling: runs in one program against cores and devices, and how the commands' default
device count was chosen.

PPO on CartPole-v1 at the classic settings (4 envs × 128 steps, 4 epochs × 4 minibatches,
64-64 tanh). R = 8 and 64 runs are trained in one program exactly as `pgjax.runs.sweep` and
`pgjax train --seeds` train them: every numeric hyperparameter an `[R]` leaf
(`pgjax.algorithms.scan.stack_runs`), the runs laid out over the devices by
`pgjax.runs.RunSharding` (`shard_map` of `pgjax.algorithms.scan.train_runs`).

Each configuration runs in its own process, since JAX fixes the CPU's device count when its
backend starts: pinned to the first C cores with `taskset` (C = 1, 2, 4, … up to the cores
this process may use), the CPU split into D devices (`JAX_NUM_CPU_DEVICES`) for D = 1, C and
2C. For each: compile seconds (ahead of time, apart from the run) and env-steps/s over all runs
(median of 3 calls, with min–max), and the speed-up over one device on the same cores. The
commands' default, one device per core (`pgjax.runs.devices`), is the D = C row.

Run: `python -m benchmarks.sweep_scaling [--quick]` → `benchmarks/sweep_scaling.md` + `.png`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np

from benchmarks import common
from benchmarks.ppo_throughput import classic_config
from pgjax import ppo
from pgjax.runs import usable_cores

RUNS = (8, 64)


def steps_per_run(num_runs: int, quick: bool) -> int:
    """Per-run length: ≈2^18 env steps per timed call over all runs (so small R is not timed on a
    few milliseconds), at least 8 iterations of 512 steps per run. Throughput is per iteration,
    so the length (and with it the learning-rate anneal) does not change the rate measured."""
    if quick:
        return 2 * 512
    return max(8 * 512, 2**18 // num_runs // 512 * 512)


def measure_all(quick: bool) -> list[dict]:
    """Every R of `RUNS` on all of this process's CPU devices (the child's work)."""
    results = []
    for num_runs in RUNS[:1] if quick else RUNS:
        steps = steps_per_run(num_runs, quick)
        trained = common.train_seeds_sharded(ppo, classic_config(steps), num_runs, jax.random.key(0),
                                             devices=len(jax.devices()))
        config = classic_config(steps)
        results.append({"runs": num_runs, "steps_per_run": steps, "compile_s": trained["compile_s"],
                        "samples": list(trained["timing"].samples),
                        "env_steps": num_runs * config.num_iterations * config.batch_size})
    return results


def configurations(cores: int) -> list[tuple[int, int]]:
    """`(cores, devices)` to measure: C = 1, 2, 4, … ≤ `cores`, each with D = 1, C, 2C."""
    counts = [c for c in (1, 2, 4, 8, 16, 32, 64) if c <= cores]
    return [(c, d) for c in counts for d in sorted({1, c, 2 * c})]


def run_child(cores: int, devices: int, quick: bool) -> list[dict]:
    """`measure_all` in a process pinned to the first `cores` cores, its CPU split into `devices` devices."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PGJAX_DEVICES")}
    env["JAX_NUM_CPU_DEVICES"] = str(devices)
    allowed = sorted(os.sched_getaffinity(0))[:cores]
    command = ["taskset", "-c", ",".join(map(str, allowed)),
               sys.executable, "-m", "benchmarks.sweep_scaling", "--child", *(["--quick"] if quick else [])]
    common.log(f"sweep_scaling: {cores} core(s), {devices} device(s)")
    completed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=common.BENCH_DIR.parent,
                               timeout=1800)
    if completed.returncode != 0:
        raise RuntimeError(f"child ({cores} cores, {devices} devices) failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(quick: bool = False, summary: dict | None = None) -> str:
    """Measure, write `sweep_scaling.md` + `.png`, return the markdown."""
    if shutil.which("taskset") is None:
        raise RuntimeError("sweep_scaling needs `taskset` (util-linux) to pin the cores")
    cores = usable_cores()
    measured = {(c, d): run_child(c, d, quick) for c, d in configurations(cores)}
    rates = {key: {r["runs"]: r["env_steps"] / common.Timing(tuple(r["samples"])).median for r in results}
             for key, results in measured.items()}
    if summary is not None:
        summary["sweep_scaling"] = {f"{c}cores-{d}dev": by_runs for (c, d), by_runs in rates.items()}

    rows = []
    for (c, d), results in measured.items():
        for r in results:
            timing = common.Timing(tuple(r["samples"]))
            speedup = rates[(c, d)][r["runs"]] / rates[(c, 1)][r["runs"]]
            rows.append([c, f"{d}" + (" (default)" if d == c else ""), r["runs"], f"{r['steps_per_run']:,}",
                         f"{r['compile_s']:.2f}", timing.seconds(), timing.rate_str(r["env_steps"]),
                         f"{speedup:.2f}×"])
    markdown = common.header(
        "Sweep scaling: runs in one program against cores and devices",
        notes=[
            *(["QUICK smoke run — not a measurement."] if quick else []),
            "PPO, CartPole-v1, classic settings (4 envs × 128 steps, 4 epochs × 4 minibatches, 64-64 tanh). "
            "R runs in one program as `pgjax.runs.sweep` and `pgjax train --seeds` build it: per-run "
            "hyperparameter leaves `[R]`, `shard_map` over a 1-D device mesh (`pgjax.runs.RunSharding`).",
            "Each row is its own process: `taskset` pins it to the first C cores, and `JAX_NUM_CPU_DEVICES=D` "
            "splits its CPU into D devices (the machine line above is the parent's). env-steps/s counts all "
            "runs; per-run length chosen so each timed call does ≈2^18 env steps in all, at least 4,096 per run. "
            "× 1 device: env-steps/s over the D = 1 row's, same cores and runs, this run.",
            "The commands' default is one device per core (D = C, marked): `pgjax train` and `pgjax sweep` split "
            "the CPU so (`pgjax.runs.devices`), and `--devices D` pins another count.",
        ],
    )
    markdown += "\n" + common.table(
        ["cores (taskset)", "devices", "runs", "steps / run", "compile s", "run time", "env-steps/s (all runs)",
         "× 1 device"], rows)

    figure, axes = common.new_figure(ncols=len(RUNS[:1] if quick else RUNS), width=4.8)
    axes = np.atleast_1d(axes)
    for ax, num_runs in zip(axes, RUNS):
        for c in sorted({c for c, _ in measured}):
            devices = sorted(d for cc, d in measured if cc == c)
            ax.plot(devices, [rates[(c, d)][num_runs] for d in devices], "o-", label=f"{c} core{'s' if c > 1 else ''}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("CPU devices")
        ax.set_ylabel("env-steps / s (all runs)")
        ax.set_title(f"{num_runs} runs in one program")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    markdown += "\n" + common.save_figure(figure, "sweep_scaling")
    return common.write_section("sweep_scaling", markdown)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small step counts, for a smoke run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one (cores, devices) process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_all(args.quick)))
    else:
        print(main(args.quick))
