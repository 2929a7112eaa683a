"""Acting: rolling the policy in the training environments, and the episode metrics that
close every iteration."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.algorithms.build import Setup, TrainState
from pgjax.envs import episode_metrics
from pgjax.rollout import Trajectory, rollout, rollout_episodes


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
    """Close an iteration: advance `state.iteration` (the count behind `env_steps`).

    Adds the mean undiscounted return and length of the episodes that finished in this
    rollout to `learn_metrics`, and the task's own episode metrics (`pgjax.envs.episode_metrics`:
    on a token task ending at EOS, the share of answers cut at the length limit). When none finished,
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
    metrics.update(episode_metrics(config.env, trajectory.action, trajectory.episode_done))
    return state.replace(iteration=iteration, last_episode_return=mean_return), {**metrics, **learn_metrics}
