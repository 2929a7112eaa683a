"""Did the layout change (one house: packages by concern, optax schedule, one Batch type,
actor/critic parameter trees, the network's config apart) cost speed?

`benchmarks/ppo_throughput.measure` (PPO on CartPole-v1 at the classic settings) on two
source trees, the one before the change and this one, interleaved in one run: each round
times tree A then tree B, each in a fresh process (so neither inherits the other's compiled
programs or warm caches), for 1 and 8 seeds. A difference smaller than the spread of the
rounds is noise.

Run: `python -m studies.layout_speed --before DIR [--rounds 5] [--timesteps 65536]`, with DIR
a checkout of the commit before the change (`git worktree add DIR b5e3583`); writes
`studies/layout_speed.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

from studies import STUDY_DIR

_MEASURE = """
import json, sys
from benchmarks import ppo_throughput
compile_s, timing, env_steps, _ = ppo_throughput.measure(int(sys.argv[1]), int(sys.argv[2]), repeats=3)
print(json.dumps({"compile_s": compile_s, "steps_per_s": env_steps / timing.median}))
"""


def measure_in(tree: Path, num_seeds: int, timesteps: int) -> dict:
    """One fresh process on `tree`'s sources: compile seconds and env-steps/s (median of 3 calls)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "JAX_ENABLE_COMPILATION_CACHE": "false"}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(num_seeds), str(timesteps)],
        cwd=tree, env=env, capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the commit before the change")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timesteps", type=int, default=65_536, help="env steps per seed and call")
    args = parser.parse_args(argv)
    trees = {"before": args.before.resolve(), "after": Path(__file__).resolve().parents[1]}
    results = {(name, seeds): [] for name in trees for seeds in (1, 8)}
    for round_ in range(args.rounds):
        for seeds in (1, 8):
            for name, tree in trees.items():
                results[name, seeds].append(measure_in(tree, seeds, args.timesteps))
                print(f"round {round_ + 1} seeds {seeds} {name}: {results[name, seeds][-1]}", flush=True)
    lines = [
        "# Layout change: PPO speed before and after, interleaved",
        "",
        f"`python -m studies.layout_speed --before DIR --rounds {args.rounds} --timesteps {args.timesteps}`; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores. Each cell: median over "
        f"{args.rounds} rounds (min–max); each round runs both trees, in fresh processes, one after the other.",
        "",
        "| seeds | tree | env-steps/s | compile s |",
        "|---:|---|---:|---:|",
    ]
    for seeds in (1, 8):
        for name in trees:
            speed = np.array([r["steps_per_s"] for r in results[name, seeds]])
            compile_s = np.array([r["compile_s"] for r in results[name, seeds]])
            lines.append(
                f"| {seeds} | {name} | {np.median(speed):,.0f} ({speed.min():,.0f}–{speed.max():,.0f}) | "
                f"{np.median(compile_s):.2f} ({compile_s.min():.2f}–{compile_s.max():.2f}) |"
            )
        ratio = np.array([a["steps_per_s"] / b["steps_per_s"] for a, b in zip(results["after", seeds], results["before", seeds])])
        lines.append(f"| {seeds} | after / before, per round | {np.median(ratio):.3f} ({ratio.min():.3f}–{ratio.max():.3f}) | |")
    text = "\n".join(lines) + "\n"
    (STUDY_DIR / "layout_speed.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
