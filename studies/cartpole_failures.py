"""How a CartPole-v1 preset's failing seeds fail: the cart leaves the track, or the pole falls.

    python -m studies.cartpole_failures [--algo ppo_kl] [--seeds 32] [--root 8] [--set FIELD=VALUE ...]
                                        [--out FILE.md]

Trains the preset (with any `--set` overrides) on `--seeds` seeds split off
`jax.random.key(root)`, in one program as `benchmarks.presets` does, scores every seed as
that benchmark does (32 episodes of the stochastic policy), and for each seed below the
threshold runs `EPISODES` more episodes of its final policy and counts how they end:
the cart past ±2.4 (off the track), the pole past ±12° (fallen), or the 500-step time
limit (the first two can hold at once, so a row's shares may add up to more than 100 %).
It also reads each failing seed's training curve (`training_history`): the first iteration
whose episodes reached the threshold, the iteration it collapsed (a `SMOOTHING`-iteration
mean return below `COLLAPSE` after that), its value loss over the last tenth of training
and its final entropy, and counts the passing seeds that collapsed the same way and came
back. Feed-forward policies only. Writes `studies/cartpole_failures_<algo>.md`, or `--out`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import pgjax
from benchmarks import common, presets
from pgjax.algorithms import build, parse_overrides
from studies import STUDY_DIR

EPISODES = 64
SMOOTHING = 20  # iterations in the moving mean that marks a collapse
COLLAPSE = 300.0  # a solved seed has collapsed once that mean return falls below this
X_LIMIT = 2.4  # gymnax CartPole's x_threshold
THETA_LIMIT = 12 * 2 * np.pi / 360  # and its theta_threshold_radians


def episode_ends(config, params, key: jax.Array, num_episodes: int = EPISODES, obs_statistics=None) -> dict:
    """How `num_episodes` fresh episodes of the stochastic policy `params` end: the final
    observations' cart position and pole angle, the lengths, and whether time ran out.

    A preset that normalises observations needs the trained agent's `obs_statistics`
    (frozen, as in evaluation): the policy sees normalised observations, the ends are
    read from the raw ones."""
    if config.recurrent:
        raise ValueError(f"network: {config.network.kind!r} is recurrent; the episodes here are played without a carry")
    if config.normalize_observations and obs_statistics is None:
        raise ValueError("obs_statistics: this preset normalises observations; give the trained agent's statistics")
    setup = build.build(config, num_envs=num_episodes, obs_statistics=obs_statistics if config.normalize_observations else None)
    env, env_params, network = setup.env, setup.env_params, setup.network
    policy_view = lambda obs: obs  # noqa: E731
    if config.normalize_observations:
        # Step the environment inside the (outermost) normaliser, so `final_observation`
        # stays raw, and normalise only what the policy sees.
        policy_view = lambda obs, normaliser=env: normaliser.normalize(obs, obs_statistics)  # noqa: E731
        env = env.env
    limit = int(env_params.max_steps_in_episode)

    def run(key):
        reset_key, key = jax.random.split(key)
        obs, env_state = env.reset(reset_key, env_params)

        def step(loop, key):
            env_state, obs, ended = loop
            action_key, env_key = jax.random.split(key)
            _, dist = network.policy(
                params, network.initial_carry(num_episodes), policy_view(obs), jnp.zeros(num_episodes, bool)
            )
            obs, env_state, _, _, truncated, info = env.step(
                jax.random.split(env_key, num_episodes), env_state, dist.sample(action_key), env_params
            )
            first = info["episode_done"] & ~ended
            return (env_state, obs, ended | info["episode_done"]), (first, info["final_observation"], truncated)

        _, (first, final, truncated) = jax.lax.scan(
            step, (env_state, obs, jnp.zeros(num_episodes, bool)), jax.random.split(key, limit + 1)
        )
        end = jnp.argmax(first, axis=0)  # the step at which each episode first ended
        columns = jnp.arange(num_episodes)
        return final[end, columns], end + 1, truncated[end, columns]

    final, length, truncated = map(np.asarray, jax.jit(run)(key))
    # `limit + 1` steps: every episode ends (by the time limit at the latest), so `end` is real.
    return dict(
        length=float(length.mean()),
        off_track=float(np.mean(np.abs(final[:, 0]) > X_LIMIT)),
        fallen=float(np.mean(np.abs(final[:, 2]) > THETA_LIMIT)),
        time_limit=float(np.mean(truncated)),
    )


def training_history(returns: np.ndarray, goal: float, smoothing: int = SMOOTHING,
                     collapse: float = COLLAPSE) -> tuple[int | None, int | None]:
    """`(solved, collapsed)` for one seed's curve `returns [T]` (each iteration's mean
    return of finished episodes): the first iteration at or above `goal`, and the last
    iteration of the first `smoothing`-iteration window that starts at or after `solved`
    and averages below `collapse`. Either is None if it never happens."""
    reached = np.flatnonzero(returns >= goal)
    if not len(reached):
        return None, None
    solved = int(reached[0])
    if len(returns) - solved < smoothing:  # np.convolve's "valid" would swap its arguments
        return solved, None
    means = np.convolve(returns[solved:], np.ones(smoothing) / smoothing, mode="valid")  # means[i]: window at solved+i
    low = np.flatnonzero(means < collapse)
    return solved, (solved + int(low[0]) + smoothing - 1 if len(low) else None)


def _late_mean(metrics: dict, name: str, seed: int) -> float:
    """`metrics[name]` of one seed averaged over the last tenth of training (NaN if not logged)."""
    if name not in metrics:
        return float("nan")
    values = metrics[name][:, seed]
    return float(values[-max(len(values) // 10, 1):].mean())


def _iteration(value: int | None) -> str:
    return "never" if value is None else str(value)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="ppo_kl", choices=sorted(pgjax.ALGORITHMS))
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--root", type=int, default=8, help="the key the seeds are split from")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE", help="override preset fields")
    parser.add_argument("--out", type=Path, help="the markdown file (default: studies/cartpole_failures_<algo>.md)")
    args = parser.parse_args(argv)
    if args.out is not None and not args.out.parent.is_dir():  # before minutes of training
        parser.error(f"--out: {args.out.parent} is not a directory")
    overrides = parse_overrides(pgjax.ALGORITHMS[args.algo].Config, args.set)
    config, states, metrics, eval_key = presets.train(args.algo, "CartPole-v1", args.seeds, args.root, overrides)
    scores = presets.score(args.algo, config, states, eval_key)
    goal = presets.threshold(args.algo, "CartPole-v1")
    histories = [training_history(metrics["episode_return"][:, seed], goal) for seed in range(args.seeds)]
    rows = []
    for seed in np.flatnonzero(scores < goal):
        params = jax.tree.map(lambda leaf, seed=seed: leaf[seed], states.params)
        obs_statistics = (jax.tree.map(lambda leaf, seed=seed: leaf[seed], states.env_state.obs_stats)
                          if config.normalize_observations else None)
        ends = episode_ends(config, params, jax.random.fold_in(eval_key, int(seed)), obs_statistics=obs_statistics)
        solved, collapsed = histories[seed]
        rows.append([int(seed), f"{scores[seed]:.1f}", f"{ends['length']:.0f}", f"{100 * ends['off_track']:.0f} %",
                     f"{100 * ends['fallen']:.0f} %", f"{100 * ends['time_limit']:.0f} %", _iteration(solved),
                     _iteration(collapsed), f"{_late_mean(metrics, 'value_loss', seed):.1f}",
                     f"{metrics['entropy'][-1, seed]:.2f}" if "entropy" in metrics else "–"])
    passing = np.flatnonzero(scores >= goal)
    came_back = sum(histories[seed][1] is not None for seed in passing)
    command = "python -m studies.cartpole_failures " + " ".join(
        [f"--algo {args.algo} --seeds {args.seeds} --root {args.root}"] + (["--set", *args.set] if args.set else [])
        + ([f"--out {args.out}"] if args.out else [])
    )
    notes = [f"command: `{command}`",
             f"{len(passing)} of {args.seeds} seeds reach {goal:g}; each failing seed's final "
             f"policy then plays {EPISODES} episodes",
             f"training curve (each iteration's mean return of finished episodes): 'solved' is the first "
             f"iteration at {goal:g} or more, 'collapsed' the end of the first {SMOOTHING}-iteration window "
             f"after it that averages below {COLLAPSE:g}; value loss: the mean over the last tenth of the "
             f"{len(metrics['episode_return'])} iterations"
             + (" (on scaled rewards, as the critic sees them)" if config.scale_rewards else "")
             + "; entropy: the last iteration's, in nats",
             f"{came_back} of the {len(passing)} passing seeds collapsed the same way and came back; their value "
             f"loss over the last tenth: median {np.median([_late_mean(metrics, 'value_loss', s) for s in passing]):.2f}"
             if len(passing) else "no seed passes"]
    title = f"How {args.algo}'s failing CartPole-v1 seeds fail"
    markdown = common.header(title, notes=notes, timed=False) + "\n" + (common.table(
        ["seed", "score", "mean length", "cart off the track", "pole fallen", "time limit", "solved", "collapsed",
         "value loss", "entropy"], rows
    ) if rows else "No seed failed.\n")
    print(markdown)
    if args.out is not None:
        args.out.write_text(markdown)
        return markdown
    return common.write_section(f"cartpole_failures_{args.algo}", markdown, STUDY_DIR)


if __name__ == "__main__":
    main()
