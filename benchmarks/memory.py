"""Policies with memory: PPO with a feed-forward (MLP) and a recurrent (GRU) network on
the memory tasks, on seeds never used to tune the presets; and the env-steps/s of the two
networks at equal settings, timed side by side in the same run.

    python -m benchmarks.memory [--seeds 8] [--root 20261201] [--envs RepeatPrevious-v0,...] [--resume]

For each memory task, the PPO preset (`network="gru"`) and the same preset with
`network="mlp"` train `--seeds` seeds each in one vmapped program (`train_batch`) from
keys split off `jax.random.key(root)`; every trained agent is scored by the mean return
of 32 evaluation episodes of its stochastic policy. Writes `benchmarks/memory.md`, the
per-seed returns to `benchmarks/memory.json` (after every run, so an interrupted
benchmark keeps what it measured; `--resume` skips runs already there) and the per-seed
returns as a figure, `benchmarks/memory.png`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import numpy as np

from benchmarks import common
from pgjax import ppo
from pgjax.report import iqm

HERE = pathlib.Path(__file__).parent
DEFAULT_ROOT = 20261201
# What the GRU should reach (the targets of the memory issue); Pendulum-positions has none.
THRESHOLDS = {"CartPole-positions-v1": 475.0, "MemoryChain-bsuite": 0.9, "RepeatPrevious-v0": 0.9 * 47}
ENVS = ("CartPole-positions-v1", "Pendulum-positions-v1", "MemoryChain-bsuite", "RepeatPrevious-v0")


def measure(env: str, network: str, num_seeds: int, root: int, num_episodes: int = 32) -> dict:
    config = ppo.Config.for_env(env, network=network)
    train_key, eval_key = jax.random.split(jax.random.key(root))
    start = time.perf_counter()
    states, _ = jax.jit(lambda keys: ppo.train_batch(config, keys))(jax.random.split(train_key, num_seeds))
    evaluate = jax.jit(jax.vmap(lambda state, key: ppo.evaluate(config, state, key, num_episodes)))
    per_seed = np.asarray(evaluate(states, jax.random.split(eval_key, num_seeds))).mean(axis=1)
    return dict(
        env=env, network=network, steps=config.num_iterations * config.batch_size, seeds=num_seeds, root=root,
        returns=per_seed.tolist(), seconds=time.perf_counter() - start,
    )


def throughput(env: str = "CartPole-positions-v1", iterations: int = 16) -> dict[str, str]:
    """env-steps/s of `ppo.train` with each network on `env`'s preset shape (one seed,
    `iterations` iterations), compiled ahead, median of 3 calls, both timed in this run."""
    rates = {}
    for network in ("mlp", "gru"):
        config = ppo.Config.for_env(env, network=network)
        config = config.replace(total_timesteps=iterations * config.batch_size)
        _, _, timing, _ = common.compile_and_time(lambda key: ppo.train(config, key), jax.random.key(0))
        rates[network] = timing.rate(iterations * config.batch_size)[0]
        rates[f"{network}_text"] = timing.rate_str(iterations * config.batch_size)
    return rates


def to_markdown(rows: list[dict]) -> str:
    lines = [
        "| environment | network | env steps | seeds | target | seeds at target | IQM | mean | worst seed | best seed | wall s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        returns = np.asarray(row["returns"])
        goal = THRESHOLDS.get(row["env"])
        reached = "—" if goal is None else f"{int(np.sum(returns >= goal))}/{row['seeds']}"
        lines.append(
            f"| {row['env']} | {row['network']} | {row['steps']:,} | {row['seeds']} | "
            f"{'—' if goal is None else f'{goal:g}'} | {reached} | {iqm(returns):.2f} | {returns.mean():.2f} "
            f"| {returns.min():.2f} | {returns.max():.2f} | {row['seconds']:.0f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(row["env"] for row in rows))
    figure, axes = plt.subplots(1, len(envs), figsize=(3.3 * len(envs), 3.2), squeeze=False)
    for ax, env in zip(axes[0], envs):
        for x, network in enumerate(("mlp", "gru")):
            row = next((r for r in rows if r["env"] == env and r["network"] == network), None)
            if row is None:
                continue
            returns = np.asarray(row["returns"])
            jitter = np.linspace(-0.12, 0.12, len(returns))
            ax.scatter(x + jitter, returns, s=18, alpha=0.8, label=f"{network} ({len(returns)} seeds)")
        if env in THRESHOLDS:
            ax.axhline(THRESHOLDS[env], color="black", linestyle="--", linewidth=0.8, label="target")
        ax.set_xticks([0, 1], ["PPO-MLP", "PPO-GRU"])
        ax.set_title(env, fontsize=10)
        ax.set_ylabel("evaluation return per seed")
        ax.legend(fontsize=7)
    figure.suptitle("Memory tasks: a feed-forward policy against a recurrent one, unseen seeds", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--root", type=int, default=DEFAULT_ROOT, help="the key the seeds are split from")
    parser.add_argument("--out", default=str(HERE / "memory.md"))
    parser.add_argument("--resume", action="store_true", help="keep the runs already in memory.json")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    store = out.with_suffix(".json")
    saved = json.loads(store.read_text()) if args.resume and store.exists() else {"rows": []}
    rows = saved["rows"]
    done = {(row["env"], row["network"]) for row in rows if row["seeds"] == args.seeds and row["root"] == args.root}
    for env in args.envs.split(","):
        for network in ("mlp", "gru"):
            if (env, network) not in done:
                rows.append(measure(env, network, args.seeds, args.root))
                store.write_text(json.dumps(saved, indent=1) + "\n")
                print(to_markdown(rows[-1:]).splitlines()[-1], flush=True)
    rates = throughput()
    saved["throughput"] = rates
    store.write_text(json.dumps(saved, indent=1) + "\n")
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {common.cpu_description()}, {common.device_description()} "
        f"(jax {jax.__version__}) with `python -m benchmarks.memory --seeds {args.seeds} --root {args.root}`. "
        f"PPO's preset for each task (`network=\"gru\"`) and the same preset with `network=\"mlp\"`, "
        f"{args.seeds} seeds split off `jax.random.key({args.root})` (not used to tune the presets), trained "
        "in one vmapped program each; a seed's score is the mean return of 32 evaluation episodes of the "
        "stochastic policy. Wall seconds include compilation. Figure: `memory.png`.\n\n"
    )
    speed = (
        "\n\nThroughput at equal settings (CartPole-positions-v1's preset shape, one seed, 16 iterations, "
        "compiled ahead, median (min–max) of 3 calls, both in this run): "
        f"MLP {rates['mlp_text']} env-steps/s, GRU {rates['gru_text']} env-steps/s "
        f"(GRU/MLP = {rates['gru'] / rates['mlp']:.2f}).\n"
    )
    table = to_markdown(rows)
    out.write_text(header + table + speed)
    plot(rows, out.with_suffix(".png"))
    return table + speed


if __name__ == "__main__":
    print(main())
