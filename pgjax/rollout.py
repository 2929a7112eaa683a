"""Collecting experience: a `lax.scan` over environment steps.

The result is a time-major `Trajectory` (`[T, num_envs, ...]`) that keeps
`terminated` and `truncated` apart and carries `next_value = V(s_{t+1})` for the
*true* next state: where an episode ended at step t, `s_{t+1}` is
`info["final_observation"]`, not the first observation of the next episode.
That is what lets a time-limit truncation bootstrap correctly.

The policy may have a memory (a *carry*, see `pgjax.networks`): the rollout threads it
through the scan, zeroes it where an environment starts a new episode (`reset`), and
records `reset` in the trajectory so that learning can replay each environment's
sequence from the carry the segment started with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from pgjax.distributions import Distribution

# policy_fn(params, carry, obs [N, ...], reset [N]) -> (carry, distribution [N], value [N])
PolicyFn = Callable[[Any, Any, chex.Array, chex.Array], tuple[Any, Distribution, chex.Array]]
# value_fn(params, carry, obs [..., obs]) -> value [...], the critic after `carry`
ValueFn = Callable[[Any, Any, chex.Array], chex.Array]


def group_reset_keys(key: chex.PRNGKey, num_groups: int, group_size: int) -> chex.PRNGKey:
    """`num_groups · group_size` reset keys where environments `g·K … g·K + K − 1` share
    one key, so each group of `K = group_size` environments starts from the same state
    (the groups RLOO and GRPO compare). Returns keys `[num_groups · group_size]`."""
    return jnp.repeat(jax.random.split(key, num_groups), group_size, axis=0)


@struct.dataclass
class Trajectory:
    """Time-major batch of transitions; every field is `[T, num_envs, ...]`."""

    obs: chex.Array  # s_t, the observation the action was chosen on
    action: chex.Array
    reward: chex.Array
    terminated: chex.Array  # s_{t+1} is terminal: no bootstrap
    truncated: chex.Array  # cut by a time limit: bootstrap from next_value
    log_prob: chex.Array  # log π_old(a_t | s_t)
    value: chex.Array  # V(s_t)
    next_value: chex.Array  # V(s_{t+1}), s_{t+1} the true next state
    episode_done: chex.Array  # an episode ended at t (terminated or truncated)
    episode_return: chex.Array  # undiscounted return of that episode where episode_done
    episode_length: chex.Array
    reset: chex.Array  # s_t starts a new episode (the policy's carry was zeroed before acting)


def rollout(
    env,
    env_params,
    policy_fn: PolicyFn,
    value_fn: ValueFn | None,
    params,
    env_state,
    obs: chex.Array,
    key: chex.PRNGKey,
    num_steps: int,
    carry=(),
    reset: chex.Array | None = None,
):
    """Run `num_steps` steps of `env` (a batched env from `pgjax.envs`) under the policy.

    `policy_fn(params, carry, obs, reset) -> (carry, distribution, value)` acts (a
    network's `apply`); `value_fn(params, carry, obs)` evaluates the true next
    observations after the carry of their step (a network's `value`; pass `None` for
    critic-free methods: values are then zero). `carry` is the policy's memory at the
    first step (empty for feed-forward policies) and `reset [N]` marks environments
    whose first step starts an episode (default: none).
    Returns `(env_state, obs, carry, reset, trajectory)`, ready for the next call.
    """
    if reset is None:
        reset = jnp.zeros(obs.shape[:1], bool)
    # All randomness is drawn up front: one action key per step and one env key
    # per step and environment, instead of splitting keys inside the scan.
    action_key, env_key = jax.random.split(key)
    action_keys = jax.random.split(action_key, num_steps)
    env_keys = jax.random.split(env_key, (num_steps, obs.shape[0]))

    def step(loop, keys):
        env_state, obs, carry, reset = loop
        step_action_key, step_env_keys = keys
        carry, dist, value = policy_fn(params, carry, obs, reset)
        action = dist.sample(step_action_key)
        log_prob = dist.log_prob(action)
        next_obs, env_state, reward, terminated, truncated, info = env.step(
            step_env_keys, env_state, action, env_params
        )
        transition = (
            Trajectory(
                obs=obs,
                action=action,
                reward=reward,
                terminated=terminated,
                truncated=truncated,
                log_prob=log_prob,
                value=value,
                next_value=jnp.zeros_like(reward),
                episode_done=info["episode_done"],
                episode_return=info["episode_return"],
                episode_length=info["episode_length"],
                reset=reset,
            ),
            info["final_observation"],
            carry,
        )
        # The environments reset themselves where an episode ended: the next step starts one.
        return (env_state, next_obs, carry, info["episode_done"]), transition

    (env_state, obs, carry, reset), (trajectory, final_obs, next_carries) = jax.lax.scan(
        step, (env_state, obs, carry, reset), (action_keys, env_keys)
    )
    if value_fn is not None:
        # One batched critic call over all true next states, each after the carry of its
        # step: cheaper than a second small call inside every scan step.
        trajectory = trajectory.replace(next_value=value_fn(params, next_carries, final_obs))
    return env_state, obs, carry, reset, trajectory


# ---------------------------------------------------------------- whole episodes


@struct.dataclass
class Episodes(Trajectory):
    """A `Trajectory` `[T, num_envs, ...]` of each environment's *first* episode.

    `alive[t, i]` is 1.0 while environment i's first episode is running (up to and
    including the step that ends it) and 0.0 afterwards. Environments auto-reset, so
    steps after the first episode belong to a new episode that does not count:
    their `reward`, `terminated`, `truncated` and `episode_done` are zeroed. An episode
    still running at the last step is marked `truncated` there (cut by the window),
    so a critic can bootstrap from `next_value`.
    """

    alive: chex.Array


def first_episode_mask(episode_done: chex.Array) -> chex.Array:
    """alive[t] = Π_{s<t} (1 − done[s]): 1.0 until (and including) the first episode end.

    `episode_done` `[T, ...]` (bool); returns float32 `[T, ...]`.
    """
    ended = episode_done.astype(jnp.int32)
    ended_before = jnp.cumsum(ended, axis=0) - ended
    return (ended_before == 0).astype(jnp.float32)


def rollout_episodes(
    env,
    env_params,
    policy_fn: PolicyFn,
    value_fn: ValueFn | None,
    params,
    key: chex.PRNGKey,
    num_steps: int,
    group_size: int = 1,
    carry=(),
):
    """Reset every environment and run `num_steps` steps; keep each one's first episode.

    Environments `g·K … g·K + K − 1` (`K = group_size`) are reset with the same key,
    so each group starts from one initial state (with `group_size=1` every
    environment starts from its own). `carry` is the policy's fresh memory (empty for
    feed-forward policies); every environment's first step is marked `reset`. Every step of the window is simulated (the
    compiled program has a fixed length); `alive` says which steps count.
    Returns `(env_state, obs, episodes)` with `episodes` an `Episodes` `[num_steps, num_envs]`.
    """
    num_envs = env.num_envs
    if num_envs % group_size:
        raise ValueError(f"group_size: must divide num_envs = {num_envs}, got {group_size}")

    reset_key, rollout_key = jax.random.split(key)
    obs, env_state = env.reset(group_reset_keys(reset_key, num_envs // group_size, group_size), env_params)
    env_state, obs, _, _, trajectory = rollout(
        env, env_params, policy_fn, value_fn, params, env_state, obs, rollout_key, num_steps,
        carry, jnp.ones(num_envs, bool),
    )
    alive = first_episode_mask(trajectory.episode_done)
    counts = alive > 0
    window_end = (jnp.arange(num_steps) == num_steps - 1)[:, None] & ~trajectory.episode_done
    episodes = Episodes(
        **{
            **vars(trajectory),
            "reward": trajectory.reward * alive,
            "terminated": trajectory.terminated & counts,
            "truncated": (trajectory.truncated | window_end) & counts,
            "episode_done": trajectory.episode_done & counts,
            "alive": alive,
        }
    )
    return env_state, obs, episodes
