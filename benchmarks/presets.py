"""Returns reached by every algorithm's `Config.for_env` presets, over several seeds.

    python -m benchmarks.presets [--algos ppo,a2c] [--envs CartPole-v1] [--seeds 4]

Trains all seeds of one (algorithm, environment) pair in one program, evaluates
each trained agent on 32 fresh episodes (stochastic policy), and writes the
table to `benchmarks/presets.md` (the README's preset table is copied from it).
"""

from __future__ import annotations

import argparse
import pathlib
import time

import jax
import numpy as np

import pgjax

HERE = pathlib.Path(__file__).parent


def measure(algo_name: str, env: str, num_seeds: int, seed: int = 0) -> dict:
    algo = pgjax.ALGORITHMS[algo_name]
    config = algo.Config.for_env(env)
    keys = jax.random.split(jax.random.key(seed), num_seeds)
    start = time.perf_counter()
    states, _ = jax.block_until_ready(jax.jit(lambda k: algo.train_batch(config, k))(keys))
    seconds = time.perf_counter() - start
    eval_keys = jax.random.split(jax.random.key(seed + 1), num_seeds)
    returns = jax.jit(jax.vmap(lambda s, k: algo.evaluate(config, s, k, 32)))(states, eval_keys)
    per_seed = np.asarray(returns).mean(axis=1)
    return dict(
        algo=algo_name, env=env, steps=config.num_iterations * config.batch_size,
        mean=float(per_seed.mean()), std=float(per_seed.std()), worst=float(per_seed.min()),
        seeds=num_seeds, seconds=seconds,
    )


def to_markdown(rows: list[dict]) -> str:
    lines = [
        "| algorithm | environment | env steps | eval return (mean ± std over seeds) | worst seed | seeds | wall s (incl. compile) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['algo']} | {r['env']} | {r['steps']:,} | {r['mean']:.1f} ± {r['std']:.1f} | {r['worst']:.1f} "
            f"| {r['seeds']} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default=",".join(pgjax.ALGORITHMS))
    parser.add_argument("--envs", default="", help="comma-separated; default: every preset of each algorithm")
    parser.add_argument("--exclude", default="", help="comma-separated environments to leave out")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", default=str(HERE / "presets.md"))
    args = parser.parse_args(argv)
    rows = []
    for algo_name in args.algos.split(","):
        envs = args.envs.split(",") if args.envs else list(pgjax.ALGORITHMS[algo_name].Config.PRESETS)
        for env in [e for e in envs if e not in args.exclude.split(",")]:
            rows.append(measure(algo_name, env, args.seeds))
            print(to_markdown(rows[-1:]).splitlines()[-1], flush=True)
    table = to_markdown(rows)
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {jax.devices()[0].device_kind} with "
        f"`python -m benchmarks.presets --algos {args.algos} --seeds {args.seeds}"
        + (f" --exclude {args.exclude}" if args.exclude else "") + "`; "
        "evaluation: 32 episodes per seed, stochastic policy.\n\n"
    )
    pathlib.Path(args.out).write_text(header + table + "\n")
    return table


if __name__ == "__main__":
    main()
