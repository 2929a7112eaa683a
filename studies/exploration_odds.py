"""How often an untrained policy's noise reaches the goal in the two Mountain Car tasks.

    python -m studies.exploration_odds [--quick]

Until an episode reaches the goal, MountainCar-v0's reward is -1 at every step and
MountainCarContinuous-v0's is only the cost of effort, so what a PPO seed can learn at
first depends on whether its noise alone ever gets the car up the hill. This measures
that chance on gymnax's own dynamics: `EPISODES` episodes from the environment's reset
distribution, each run to its time limit (200 and 999 steps) without automatic resets,
with actions drawn independently at every step: uniformly from the three discrete
actions, and from N(0, σ²) clipped to the bounds for σ = e^{log_std_init}, the Gaussian
policy's σ at initialisation (the mean starts near 0: the actor head is initialised at
scale 0.01). Reports the fraction of episodes that reach the goal, with a 95 % Wilson
interval, and the chance that none of the first 16 episodes (one per environment of the
presets) does. Writes `studies/exploration_odds.md`.
"""

from __future__ import annotations

import math

import gymnax
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from studies import STUDY_DIR

EPISODES = 20_000
LOG_STDS = (0.0, 0.5, 1.0)
FIRST_EPISODES = 16


def reach_fraction(env_name: str, draw_action, num_episodes: int, key: jax.Array) -> float:
    """Fraction of `num_episodes` episodes of `env_name` in which `draw_action(key)` noise
    takes the car to the goal before the time limit."""
    env, params = gymnax.make(env_name)

    def episode(key):
        reset_key, key = jax.random.split(key)
        _, state = env.reset_env(reset_key, params)

        def step(carry, key):
            state, reached = carry
            step_key, action_key = jax.random.split(key)
            _, state, _, _, _ = env.step_env(step_key, state, draw_action(action_key), params)
            # Once there, the episode would have ended: keep the flag, ignore what follows.
            return (state, reached | (state.position >= params.goal_position)), None

        keys = jax.random.split(key, params.max_steps_in_episode)
        (_, reached), _ = jax.lax.scan(step, (state, jnp.zeros((), bool)), keys)
        return reached

    reached = jax.jit(jax.vmap(episode))(jax.random.split(key, num_episodes))
    return float(np.mean(np.asarray(reached)))


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def measure(num_episodes: int) -> list[dict]:
    key = jax.random.key(0)
    cases = [("MountainCar-v0", "uniform over the 3 actions", lambda k: jax.random.randint(k, (), 0, 3))]
    for log_std in LOG_STDS:
        sigma = math.exp(log_std)
        cases.append((
            "MountainCarContinuous-v0", f"N(0, σ²), σ = e^{log_std} = {sigma:.2f}, clipped to [-1, 1]",
            lambda k, sigma=sigma: jnp.clip(sigma * jax.random.normal(k, (1,)), -1.0, 1.0),
        ))
    rows = []
    for index, (env_name, noise, draw) in enumerate(cases):
        p = reach_fraction(env_name, draw, num_episodes, jax.random.fold_in(key, index))
        rows.append(dict(env=env_name, noise=noise, p=p, ci=wilson(p, num_episodes), none_of_first=(1 - p) ** FIRST_EPISODES))
    return rows


def to_markdown(rows: list[dict], num_episodes: int) -> str:
    notes = [f"command: `python -m studies.exploration_odds`; {num_episodes:,} episodes per row, "
             "actions drawn independently at every step, no learning"]
    out = common.header("How often untrained noise reaches the goal", notes=notes, timed=False)
    out += "\n" + common.table(
        ["environment", "action noise", "episodes reaching the goal", "95 % Wilson interval",
         f"P(none of the first {FIRST_EPISODES})"],
        [[r["env"], r["noise"], f"{100 * r['p']:.2f} %", f"{100 * r['ci'][0]:.2f}-{100 * r['ci'][1]:.2f} %",
          f"{100 * r['none_of_first']:.0f} %"] for r in rows],
    )
    return out


def main(argv=None) -> str:
    num_episodes = 2_000 if common.parse_quick(argv) else EPISODES
    markdown = to_markdown(measure(num_episodes), num_episodes)
    print(markdown)
    return common.write_section("exploration_odds", markdown, STUDY_DIR)


if __name__ == "__main__":
    main()
