"""Every preset judged on seeds never used to tune it: 32 fresh seeds, robust statistics.

    python -m benchmarks.presets [--algos ppo,a2c] [--envs CartPole-v1] [--exclude Breakout-MinAtar]
                                 [--seeds 32] [--root 20261201] [--set FIELD=VALUE ... --out FILE.md]

For each (algorithm, environment) preset (`Config.for_env`), trains all seeds in one
program (`train_batch`, vmapped) from keys split off `jax.random.key(root)` (the presets
were tuned on seeds 0-7 and 2024; the default root is none of them) and evaluates each
trained agent on 32 fresh episodes with the stochastic policy. Per preset it reports the
IQM of the per-seed returns with a 95 % stratified-bootstrap interval (`pgjax.report`,
rliable's estimators), the mean, the worst seed, how many seeds reach the threshold, and
the gymnax-blines PPO return as an external reference. Writes `benchmarks/presets.md`,
the per-seed returns to `benchmarks/presets.json` (after every preset, so an interrupted
run keeps what it measured; rerun with `--resume` to skip presets already there, or with
`--update` to measure the selected presets again in place, keeping the rest) and
performance profiles to `benchmarks/presets.png`. Each row records when and on which CPU
it was measured, since a table may join rows of several runs. `--set` trains variants of
the presets (on tuning seeds, with `--root` and an `--out` of their own): the measurements
behind the presets' tuning notes (the comments of `pgjax/algorithms/presets.py`).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import numpy as np

import pgjax
from benchmarks import common, memory
from pgjax.algorithms import parse_overrides
from pgjax.report import iqm, performance_profile, stratified_bootstrap_ci

HERE = pathlib.Path(__file__).parent
DEFAULT_ROOT = 20261201

# Returns a preset should reach: the targets for PPO and for the family on CartPole-v1
# (the Monte-Carlo methods, which learn from whole episodes without a critic, at 450).
THRESHOLDS = {
    "CartPole-v1": 475.0, "Acrobot-v1": -100.0, "Pendulum-v1": -250.0, "MountainCarContinuous-v0": 90.0,
    "MountainCar-v0": -130.0, "Catch-bsuite": 0.9,
}
MONTE_CARLO = ("reinforce", "rloo", "grpo")
# gymnax-blines' PPO returns (its README), the external reference point.
REFERENCE = {
    "CartPole-v1": 500.0, "Acrobot-v1": -80.0, "Pendulum-v1": -130.0, "MountainCar-v0": -118.0,
    "MountainCarContinuous-v0": 92.0, "Catch-bsuite": 1.0,
}


def threshold(algo_name: str, env: str) -> float:
    if env == "CartPole-v1" and algo_name in MONTE_CARLO:
        return 450.0
    return THRESHOLDS.get(env, float("nan"))


def train(algo_name: str, env: str, num_seeds: int, root: int, overrides: dict | None = None):
    """`(config, states, metrics, eval_key)`: the preset (with `overrides`) trained on
    `num_seeds` seeds split off `key(root)` in one program, with its training metrics
    (NumPy leaves `[num_iterations, num_seeds]`); `eval_key` is the evaluation's key."""
    algo = pgjax.ALGORITHMS[algo_name]
    config = algo.Config.for_env(env, **(overrides or {}))
    train_key, eval_key = jax.random.split(jax.random.key(root))
    states, metrics = jax.jit(lambda keys: algo.train_batch(config, keys))(jax.random.split(train_key, num_seeds))
    return config, states, jax.tree.map(np.asarray, metrics), eval_key


def score(algo_name: str, config, states, eval_key: jax.Array, num_episodes: int = 32) -> np.ndarray:
    """Each trained seed's score `[num_seeds]`: the mean return of `num_episodes` fresh
    episodes of its stochastic policy, all seeds in one vmapped program."""
    algo = pgjax.ALGORITHMS[algo_name]
    num_seeds = jax.tree.leaves(states)[0].shape[0]
    evaluate = jax.jit(jax.vmap(lambda state, key: algo.evaluate(config, state, key, num_episodes)))
    return np.asarray(evaluate(states, jax.random.split(eval_key, num_seeds))).mean(axis=1)


def measure(algo_name: str, env: str, num_seeds: int, root: int, num_episodes: int = 32,
            overrides: dict | None = None) -> dict:
    start = time.perf_counter()
    config, states, _, eval_key = train(algo_name, env, num_seeds, root, overrides)
    per_seed = score(algo_name, config, states, eval_key, num_episodes)
    return dict(
        algo=algo_name, env=env, steps=config.num_iterations * config.batch_size, seeds=num_seeds, root=root,
        returns=per_seed.tolist(), seconds=time.perf_counter() - start, measured=provenance(),
        overrides=dict(overrides or {}),
    )


def provenance() -> str:
    """When and where a row was measured: rows of one table may come from different runs."""
    return f"{time.strftime('%Y-%m-%d')}, {common.cpu_description()}"


def summarise(row: dict) -> dict:
    returns = np.asarray(row["returns"])
    goal = threshold(row["algo"], row["env"])
    low, high = stratified_bootstrap_ci(returns)
    return dict(
        iqm=iqm(returns), ci=(low, high), mean=float(returns.mean()), worst=float(returns.min()), threshold=goal,
        reached=int(np.sum(returns >= goal)), reference=REFERENCE.get(row["env"]),
    )


def _run_label(index: int) -> str:
    """a, b, …, z, then 27, 28, …: the `measured` column's name for the index-th run."""
    return "abcdefghijklmnopqrstuvwxyz"[index] if index < 26 else str(index + 1)


def to_markdown(rows: list[dict]) -> str:
    lines = [
        "| algorithm | environment | env steps | threshold | seeds at threshold | IQM [95 % CI] | mean | worst seed "
        "| gymnax-blines PPO | wall s | measured |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    runs = list(dict.fromkeys(row.get("measured", "?") for row in rows))
    for row in rows:
        s = summarise(row)
        reference = "—" if s["reference"] is None else f"{s['reference']:g}"
        label = row["algo"] + "".join(f" {name}={value}" for name, value in row.get("overrides", {}).items())
        lines.append(
            f"| {label} | {row['env']} | {row['steps']:,} | {s['threshold']:g} | {s['reached']}/{row['seeds']} "
            f"| {s['iqm']:.1f} [{s['ci'][0]:.1f}, {s['ci'][1]:.1f}] | {s['mean']:.1f} | {s['worst']:.1f} "
            f"| {reference} | {row['seconds']:.0f} | {_run_label(runs.index(row.get('measured', '?')))} |"
        )
    legend = "; ".join(f"{_run_label(i)}: {run}" for i, run in enumerate(runs))
    return "\n".join(lines) + f"\n\nmeasured: {legend}."


def plot_profiles(rows: list[dict], path: pathlib.Path) -> None:
    """One panel per environment: the fraction of seeds whose return exceeds τ, per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(row["env"] for row in rows))
    columns = min(3, len(envs))
    figure, axes = plt.subplots(
        (len(envs) + columns - 1) // columns, columns, figsize=(4.2 * columns, 3.2 * ((len(envs) + columns - 1) // columns)),
        squeeze=False,
    )
    for ax, env in zip(axes.flat, envs):
        env_rows = [row for row in rows if row["env"] == env]
        values = np.concatenate([row["returns"] for row in env_rows])
        span = max(values.max() - values.min(), 1e-6)
        taus = np.linspace(values.min() - 0.05 * span, values.max() + 0.05 * span, 400)
        for row in env_rows:
            ax.step(taus, performance_profile(row["returns"], taus), where="post", label=row["algo"])
        goal = THRESHOLDS.get(env)
        if goal is not None:
            ax.axvline(goal, color="black", linestyle="--", linewidth=0.8, label=f"threshold {goal:g}")
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("evaluation return τ")
        ax.set_ylabel("fraction of seeds > τ")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(envs):]:
        ax.axis("off")
    seeds = rows[0]["seeds"]
    figure.suptitle(f"Performance profiles of the presets, {seeds} unseen seeds each", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default=",".join(pgjax.ALGORITHMS))
    parser.add_argument("--envs", default="", help="comma-separated; default: every preset of each algorithm "
                        "(an algorithm without a preset for a listed environment skips it)")
    parser.add_argument(
        "--exclude", default=",".join(("Breakout-MinAtar", *memory.ENVS)),
        help="comma-separated environments to leave out (default: Breakout, and the memory tasks, which "
        "benchmarks/memory.py judges beside a feed-forward policy)",
    )
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--root", type=int, default=DEFAULT_ROOT, help="the key the seeds are split from")
    parser.add_argument("--out", default=str(HERE / "presets.md"))
    parser.add_argument("--resume", action="store_true", help="keep the presets already in presets.json")
    parser.add_argument(
        "--update", action="store_true",
        help="keep the other presets in presets.json and measure the selected ones again, in place",
    )
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="FIELD=VALUE",
        help="override fields of every selected preset (a tuning run: needs an --out of its own, so that "
        "benchmarks/presets.md stays the presets' own table)",
    )
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    own = {(HERE / f"presets{suffix}").resolve() for suffix in (".md", ".json", ".png")}
    if args.set and own & {out.resolve(), out.with_suffix(".json").resolve(), out.with_suffix(".png").resolve()}:
        parser.error("--set: give an --out of its own (not benchmarks/presets.*); those files are the presets "
                     "as they are")
    store = out.with_suffix(".json")
    rows = json.loads(store.read_text()) if (args.resume or args.update) and store.exists() else []
    if args.update and any(row["seeds"] != args.seeds or row["root"] != args.root for row in rows):
        parser.error(f"--update: {store} holds rows of other seeds or roots than --seeds {args.seeds} "
                     f"--root {args.root}; one table is one set of seeds")
    done = set() if args.update else {
        (row["algo"], row["env"], json.dumps(row.get("overrides", {}), sort_keys=True))
        for row in rows if row["seeds"] == args.seeds and row["root"] == args.root
    }
    for algo_name in args.algos.split(","):
        presets = pgjax.ALGORITHMS[algo_name].Config.PRESETS
        envs = [env for env in args.envs.split(",") if env in presets] if args.envs else list(presets)
        overrides = parse_overrides(pgjax.ALGORITHMS[algo_name].Config, args.set)
        key = json.dumps(overrides, sort_keys=True)
        for env in [e for e in envs if e not in args.exclude.split(",") and (algo_name, e, key) not in done]:
            row = measure(algo_name, env, args.seeds, args.root, overrides=overrides)
            same = [i for i, old in enumerate(rows) if (old["algo"], old["env"]) == (algo_name, env)]
            if same:
                rows[same[0]] = row
            else:
                rows.append(row)
            store.write_text(json.dumps(rows, indent=1) + "\n")
            print(to_markdown([row]).splitlines()[2], flush=True)
    table = to_markdown(rows)
    header = (
        f"Measured with {common.device_description()} (jax {jax.__version__}), each row on the date and CPU its "
        "`measured` letter names, with "
        f"`python -m benchmarks.presets --seeds {args.seeds} --root {args.root}"
        + (f" --exclude {args.exclude}" if args.exclude else "")
        + (f" --set {' '.join(args.set)} --out {args.out}" if args.set else "") + "`. "
        + (f"Each preset, with the overrides its row names, trains {args.seeds} seeds split off "
           f"`jax.random.key({args.root})` (a tuning run: variants of the presets)"
           if args.set else
           f"Each preset trains {args.seeds} seeds split off `jax.random.key({args.root})`, none of them used to "
           "tune it")
        + ", in one vmapped program; each seed's score is the mean return of 32 evaluation episodes of the "
        "stochastic policy. IQM: the mean of the middle 50 % of the seeds, with a 95 % stratified-bootstrap "
        "interval (10,000 resamples, `pgjax.report.stratified_bootstrap_ci`). Wall seconds include compilation. "
        "Performance profiles: `presets.png`.\n\n"
    )
    out.write_text(header + table + "\n")
    plot_profiles(rows, out.with_suffix(".png"))
    return table


if __name__ == "__main__":
    main()
