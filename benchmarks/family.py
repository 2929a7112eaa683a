"""The policy-gradient family side by side: every algorithm, equal env-step budgets.

    python -m benchmarks.family [--quick] [--seeds 4]

For CartPole-v1 and Pendulum-v1, trains every algorithm in `pgjax.ALGORITHMS`
from its `Config.for_env` preset with `total_timesteps` set to the same budget,
all seeds in one program. Reports the final evaluation return (32 episodes per
seed, mean ± std over seeds), env-steps/s of the compiled run (compile time
apart), and the wall time until the seed-mean training return first reached a
threshold (run seconds × fraction of iterations done at that point). Writes
`benchmarks/family.md` and `benchmarks/family_<env>.png`.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import pgjax
from benchmarks import common
from pgjax.report import plot_learning_curves

# (budget in env steps, return threshold for "time to threshold")
TASKS = {"CartPole-v1": (1_000_000, 450.0), "Pendulum-v1": (1_000_000, -400.0)}


def run_one(algo_name: str, env: str, budget: int, threshold: float, num_seeds: int):
    algo = pgjax.ALGORITHMS[algo_name]
    config = algo.Config.for_env(env, total_timesteps=budget)
    keys = jax.random.split(jax.random.key(0), num_seeds)
    # One timed call: a full training run is long enough that call-to-call noise is small
    # relative to the spread over algorithms; compile time is measured apart.
    _, compile_s, timing, (states, metrics) = common.compile_and_time(
        lambda k: algo.train_batch(config, k), keys, repeats=1
    )
    eval_keys = jax.random.split(jax.random.key(1), num_seeds)
    returns = np.asarray(jax.jit(jax.vmap(lambda s, k: algo.evaluate(config, s, k, 32)))(states, eval_keys)).mean(1)
    steps = config.num_iterations * config.batch_size
    curve = np.asarray(metrics["episode_return"]).T  # [seeds, iterations]
    hit = common.first_reaching(np.nanmean(curve, axis=0), threshold)
    to_threshold = "not reached" if hit is None else f"{timing.median * (hit + 1) / config.num_iterations:.1f}"
    row = [
        algo_name, f"{steps:,}", f"{returns.mean():.1f} ± {returns.std():.1f}", f"{steps / timing.median:,.0f}",
        f"{compile_s:.1f}", to_threshold,
    ]
    return row, (np.asarray(metrics["env_steps"])[:, 0], curve)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets, for a smoke run")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--algos", default=",".join(pgjax.ALGORITHMS))
    args = parser.parse_args(argv)
    sections = [common.header(
        "The policy-gradient family at equal budgets",
        notes=[f"{args.seeds} seeds per algorithm in one program; presets from `Config.for_env` with "
               "`total_timesteps` set to the budget; evaluation: 32 episodes per seed, stochastic policy",
               "time to threshold: run seconds × (iterations until the seed-mean training return first "
               "reached the threshold) / iterations"],
    )]
    for env, (budget, threshold) in TASKS.items():
        budget = budget // 20 if args.quick else budget
        rows, curves = [], {}
        for algo_name in args.algos.split(","):
            common.log(f"family: {algo_name} on {env} ({budget:,} steps)")
            row, curves[algo_name] = run_one(algo_name, env, budget, threshold, args.seeds)
            rows.append(row)
        sections.append(f"### {env} ({budget:,} env steps, threshold {threshold:g})\n\n")
        sections.append(common.table(
            ["algorithm", "env steps", "final eval return", "env-steps/s", "compile s", "s to threshold"], rows))
        name = f"family_{env.split('-')[0].lower()}"
        plot_learning_curves(curves, common.BENCH_DIR / f"{name}.png", title=f"{env}: training return, mean ± std")
        sections.append(f"\n![{name}]({name}.png)\n\n")
    return common.write_section("family", "\n".join(sections))


if __name__ == "__main__":
    print(main())
