"""Acting: rolling the policy in the training environments, the episode metrics that
close every iteration, and evaluation on fresh episodes."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

from pgjax.algorithms.build import Setup, TrainState, build
from pgjax.rollout import Trajectory, rollout, rollout_episodes
from pgjax.token_tasks import EOS, ends_at_eos


def collect(config, setup: Setup, state: TrainState, use_critic: bool = True):
    """Roll the current policy for `num_steps`, threading its carry.

    Returns `(state, trajectory, carry)`: `carry` is the policy's memory at the first step
    of the segment, from which learning replays each environment's sequence."""
    key, rollout_key = jax.random.split(state.key)
    network = setup.network
    env_state, obs, carry, reset, trajectory = rollout(
        setup.env, setup.env_params, network.apply, network.value if use_critic else None, state.params,
        state.env_state, state.obs, rollout_key, config.num_steps, state.carry, state.reset,
    )
    start_carry = state.carry
    return state.replace(env_state=env_state, obs=obs, carry=carry, reset=reset, key=key), trajectory, start_carry


def collect_episodes(config, setup: Setup, state: TrainState, group_size: int = 1, use_critic: bool = False):
    """Reset every environment (groups of `group_size` share a reset key) and roll the
    policy for `num_steps`; see `pgjax.rollout.rollout_episodes`.
    Returns `(state, episodes)`."""
    network = setup.network
    key, rollout_key = jax.random.split(state.key)
    if use_critic:
        policy_fn, value_fn = network.apply, network.value
    else:
        # Critic-free: skip the value head on every step of the rollout.
        def policy_fn(params, carry, obs, reset):
            carry, dist = network.policy(params, carry, obs, reset)
            return carry, dist, jnp.zeros(obs.shape[0])

        value_fn = None
    env_state, obs, episodes = rollout_episodes(
        setup.env, setup.env_params, policy_fn, value_fn, state.params, rollout_key, config.num_steps, group_size,
        network.initial_carry(config.num_envs),
    )
    return state.replace(env_state=env_state, obs=obs, key=key), episodes


def finish_iteration(config, state: TrainState, trajectory: Trajectory, learn_metrics: dict):
    """Close an iteration: the one place where `state.iteration` advances (the learning-rate
    schedule reads it, so every `update` calls this last, after learning).

    Adds the mean undiscounted return and length of the episodes that finished in this
    rollout to `learn_metrics` (on a token task ending at EOS, also the share of them cut
    at the length limit, `completion_clipped_fraction`). When none finished,
    `episode_return` repeats the last known value (so curves stay continuous) and
    `episode_count` is 0.
    Returns `(state, metrics)`.
    """
    done = trajectory.episode_done.astype(jnp.float32)
    count = done.sum()
    mean_return = jnp.where(
        count > 0, (trajectory.episode_return * done).sum() / jnp.maximum(count, 1.0), state.last_episode_return
    )
    mean_length = (trajectory.episode_length * done).sum() / jnp.maximum(count, 1.0)
    iteration = state.iteration + 1
    metrics = {
        "env_steps": iteration * config.batch_size,
        "episode_return": mean_return,
        "episode_length": mean_length,
        "episode_count": count,
    }
    if ends_at_eos(config.env):
        # TRL's completions/clipped_ratio: answers cut at the length limit, not ended by EOS.
        clipped = done * (trajectory.action != EOS)
        metrics["completion_clipped_fraction"] = clipped.sum() / jnp.maximum(count, 1.0)
    return state.replace(iteration=iteration, last_episode_return=mean_return), {**metrics, **learn_metrics}


def evaluate(config, state: TrainState, key: chex.PRNGKey, num_episodes: int, greedy: bool = False) -> chex.Array:
    """Undiscounted returns `[num_episodes]` of fresh episodes, one per parallel environment.

    Observation statistics are the trained agent's, frozen; a recurrent policy starts
    each episode from a fresh carry. `greedy` acts with the distribution's mode instead
    of sampling.
    """
    if not isinstance(num_episodes, (int, np.integer)) or isinstance(num_episodes, bool) or num_episodes < 1:
        raise ValueError(f"num_episodes: must be a positive integer, got {num_episodes!r}")
    obs_statistics = state.env_state.obs_stats if config.normalize_observations else None
    setup = build(config, num_envs=num_episodes, obs_statistics=obs_statistics)
    env, env_params, network = setup.env, setup.env_params, setup.network
    reset_key, key = jax.random.split(key)
    obs, env_state = env.reset(reset_key, env_params)

    def running(loop):
        return ~jnp.all(loop[3])

    def step(loop):
        env_state, obs, key, finished, returns, carry, reset = loop
        key, action_key, env_key = jax.random.split(key, 3)
        carry, dist = network.policy(state.params, carry, obs, reset)
        action = dist.mode() if greedy else dist.sample(action_key)
        obs, env_state, _, _, _, info = env.step(jax.random.split(env_key, num_episodes), env_state, action, env_params)
        first_end = info["episode_done"] & ~finished
        returns = jnp.where(first_end, info["episode_return"], returns)
        return env_state, obs, key, finished | info["episode_done"], returns, carry, info["episode_done"]

    init = (
        env_state, obs, key, jnp.zeros(num_episodes, bool), jnp.zeros(num_episodes),
        network.initial_carry(num_episodes), jnp.ones(num_episodes, bool),
    )
    return jax.lax.while_loop(running, step, init)[4]
