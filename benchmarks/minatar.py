"""MinAtar on a CPU: the MLP and the conv torso on four games, by throughput and by return.

    python -m benchmarks.minatar [--quick] [--steps 10000000] [--seeds 4] [--games ...] [--recipes ...] [--resume]

For each of Asterix, Breakout, Freeway and SpaceInvaders (MinAtar, gymnax), PPO trains with
the two recipes of `pgjax.algorithms.presets.MINATAR_RECIPES`:

- `mlp`: gymnax-blines' (a 2×256 ReLU MLP on the flattened 10×10×C image, constant step
  size 5e-4, γ = 0.999, entropy bonus 0.01);
- `cnn`: one 3×3 convolution with 16 channels, then 256 ReLU units (5e-3, annealed).

Both: 64 environments × 128 steps, 4 epochs × 8 minibatches. The seeds (split off
`jax.random.key(1)`) are vmapped in one program. Per game and recipe: compile seconds,
env-steps/s of the run, the return at the end (mean training return of the last 5
iterations, per seed) and the wall time until the seed-mean training return first reached
gymnax-blines' 10M-step PPO return (compile plus the run's share up to that iteration).

A second table times one PPO iteration of the conv torso computed by XLA's convolution
(`flax.linen.Conv`) against the im2col matrix product `pgjax.networks.Conv3x3` uses, same
parameters, side by side.

Each run is kept in `benchmarks/minatar.json` as soon as it ends, keyed by game, recipe and
budget (`--resume` keeps them and adds to them); the table shows every stored run of the games.
Writes `benchmarks/minatar.md` and `benchmarks/minatar.png` (return against wall time).
"""

from __future__ import annotations

import argparse
import json
import time

import flax.linen as nn
import jax
import numpy as np

from benchmarks import common
from pgjax import networks
from pgjax.algorithms import ppo, presets

# gymnax-blines PPO at 10M steps (its README's table).
BLINES = {"Asterix-MinAtar": 15.0, "Breakout-MinAtar": 28.0, "Freeway-MinAtar": 58.0, "SpaceInvaders-MinAtar": 131.0}
STORE = common.BENCH_DIR / "minatar.json"
ROOT = 1
LAST = 5  # iterations averaged for the final return


def config_for(game: str, recipe: str, steps: int) -> ppo.Config:
    return ppo.Config(**{**presets.MINATAR_RECIPES[recipe], "env": game, "total_timesteps": steps})


def learn(game: str, recipe: str, steps: int, num_seeds: int) -> dict:
    config = config_for(game, recipe, steps)
    keys = jax.random.split(jax.random.key(ROOT), num_seeds)
    _, compile_s, timing, (_, metrics) = common.compile_and_time(
        lambda k: ppo.train_batch(config, k), keys, repeats=1
    )
    curve = np.asarray(metrics["episode_return"]).T  # [seeds, iterations]
    return dict(
        compile_s=compile_s, run_s=timing.median, env_steps=int(config.num_iterations * config.batch_size),
        steps=np.asarray(metrics["env_steps"])[:, 0].tolist(), curve=curve.tolist(),
    )


def _xla_conv(features, name):
    """XLA's convolution in place of `networks.Conv3x3`, with the same initialiser."""
    return nn.Conv(features, (3, 3), kernel_init=networks.orthogonal(np.sqrt(2)), name=name)


class _XlaConvActorCritic(networks.ActorCritic):
    def _torso(self, name):
        return networks.CNNTorso(self.hidden_sizes, self.activation, conv=_xla_conv, name=name)


def _xla_conv_network(action_dim, discrete, obs_ndim, config):
    return networks.FeedForward(_XlaConvActorCritic(
        action_dim=action_dim, discrete=discrete, obs_ndim=obs_ndim,
        hidden_sizes=config.hidden_sizes, activation=config.activation,
    ))


def time_iteration(config: ppo.Config, num_seeds: int) -> tuple[float, float]:
    """(compile s, s per PPO iteration) of `num_seeds` vmapped seeds."""
    keys = jax.random.split(jax.random.key(ROOT), num_seeds)
    states = jax.jit(jax.vmap(lambda k: ppo.init(config, k)))(keys)
    update = jax.vmap(lambda s: ppo.update(config, s))
    _, compile_s, timing, _ = common.compile_and_time(update, states, repeats=1, warmup=1)
    return compile_s, timing.median


def conv_table(num_seeds: int) -> str:
    if "cnn-xla-conv" not in networks.NETWORKS:
        networks.register_network("cnn-xla-conv", _xla_conv_network, recurrent=False)
    config = config_for("Breakout-MinAtar", "cnn", 10_000_000)
    rows = []
    for label, network in [("XLA convolution (flax.linen.Conv)", "cnn-xla-conv"), ("im2col (networks.Conv3x3)", "mlp")]:
        common.log(f"minatar: one iteration with {label}")
        compile_s, iteration_s = time_iteration(config.replace(network=network), num_seeds)
        rows.append([label, f"{compile_s:.1f}", f"{iteration_s:.2f}", f"{num_seeds * config.batch_size / iteration_s:,.0f}"])
    speedup = float(rows[0][2]) / float(rows[1][2])
    return (f"### The convolution, one PPO iteration (Breakout-MinAtar, cnn recipe, {num_seeds} seed(s))\n\n"
            + common.table(["convolution", "compile s", "s per iteration", "env-steps/s"], rows)
            + f"\nim2col: {speedup:.1f}× faster per iteration, side by side.\n")


def summarise(game: str, recipe: str, run: dict) -> list:
    curve = np.asarray(run["curve"], dtype=np.float64)
    final = np.nanmean(curve[:, -LAST:], axis=1)
    iterations = curve.shape[1]
    hit = common.first_reaching(np.nanmean(curve, axis=0), BLINES[game])
    to_target = "not reached" if hit is None else f"{run['compile_s'] + run['run_s'] * (hit + 1) / iterations:.0f}"
    return [
        game, recipe, f"{run['env_steps']:,}", f"{run['compile_s']:.1f}", f"{run['env_steps'] * curve.shape[0] / run['run_s']:,.0f}",
        f"{final.mean():.1f} ({', '.join(f'{x:.1f}' for x in final)})", f"{BLINES[game]:g}", to_target,
    ]


def plot(store: dict, games: list[str]) -> str:
    figure, axes = common.new_figure(4.0, 3.4, ncols=len(games))
    axes = np.atleast_1d(axes)
    for ax, game in zip(axes, games):
        for key in sorted(key for key in store if key.startswith(f"{game}/")):
            _, recipe, budget = key.split("/")
            run = store[key]
            curve = np.asarray(run["curve"], dtype=np.float64)
            seconds = run["compile_s"] + run["run_s"] * np.arange(1, curve.shape[1] + 1) / curve.shape[1]
            mean = np.nanmean(curve, axis=0)
            ax.plot(seconds, mean, label=f"{recipe}, {int(budget) / 1e6:.0f}M steps")
            ax.fill_between(seconds, np.nanmin(curve, axis=0), np.nanmax(curve, axis=0), alpha=0.2)
        ax.axhline(BLINES[game], color="grey", linestyle="--", linewidth=0.8, label="gymnax-blines 10M")
        ax.set_title(game)
        ax.set_xlabel("wall seconds (incl. compile)")
        ax.set_ylabel("training return (seed mean, min-max)")
        ax.legend(fontsize="small")
    return common.save_figure(figure, "minatar")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets, for a smoke run (nothing stored)")
    parser.add_argument("--steps", type=int, default=10_000_000, help="env steps per seed")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--games", default=",".join(presets.MINATAR_GAMES))
    parser.add_argument("--recipes", default=",".join(presets.MINATAR_RECIPES))
    parser.add_argument("--resume", action="store_true", help="keep the runs already in minatar.json")
    args = parser.parse_args(argv)
    steps, seeds = (2 * 64 * 128, 1) if args.quick else (args.steps, args.seeds)
    games, recipes = args.games.split(","), args.recipes.split(",")
    store = json.loads(STORE.read_text()) if args.resume and STORE.exists() else {}
    started = time.time()
    for game in games:
        for recipe in recipes:
            config = config_for(game, recipe, steps)
            key = f"{game}/{recipe}/{config.num_iterations * config.batch_size}"
            if key in store and len(store[key]["curve"]) == seeds:
                continue
            common.log(f"minatar: {recipe} on {game}, {seeds} seeds × {steps:,} steps")
            store[key] = learn(game, recipe, steps, seeds)
            if not args.quick:
                STORE.write_text(json.dumps(store) + "\n")
    common.log(f"minatar: learning runs took {time.time() - started:.0f} s")
    sections = [common.header(
        "MinAtar: MLP against conv torso",
        notes=[f"commands: `python -m benchmarks.minatar --steps 1000000 --seeds {seeds}`, then longer runs of the "
               "leading recipe where no recipe had reached the blines return (`--steps 3000000 --recipes mlp "
               "--games ...  --resume`); seeds split off "
               f"`jax.random.key({ROOT})`, vmapped in one program; return: mean training return of the last "
               f"{LAST} iterations per seed (seed values in brackets); time to blines: compile + run seconds "
               "× share of iterations until the seed mean first reached gymnax-blines' 10M-step return"],
    )]
    # Every stored run of these games, longer budgets after shorter ones.
    keys = sorted((key for key in store if key.split("/")[0] in games),
                  key=lambda key: (key.split("/")[0], int(key.split("/")[2]), key.split("/")[1]))
    rows = [summarise(*key.split("/")[:2], store[key]) for key in keys]
    sections.append(common.table(
        ["game", "recipe", "env steps per seed", "compile s", "env-steps/s (all seeds)", "return at the end",
         "gymnax-blines 10M", "s to blines return"], rows))
    sections.append("\n" + plot(store, games) + "\n")
    sections.append(conv_table(1))
    return common.write_section("minatar", "\n".join(sections))


if __name__ == "__main__":
    print(main())
