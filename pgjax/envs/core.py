"""Gymnax environments, batched: `make_env`, `VecEnv` and `make_vec_env`, the stack every algorithm trains on.

`make_env(name, **param_overrides)` builds one gymnax 1.0 environment. Training
code steps `num_envs` copies in lock-step through `VecEnv`, and the wrappers
below act on that batch, so statistics that should be shared by all copies (the
observation normaliser's running mean and variance) are computed once over the
whole batch and live in the environment state, not in a closure.

Every `step` returns the gymnax 1.0 six-tuple
`obs, state, reward, terminated, truncated, info` with batched arrays, and
`info["final_observation"]`: the true next observation `s_{t+1}` (before the
automatic reset), which is what a truncated step bootstraps from.
"""

from __future__ import annotations

from typing import Any

import chex
import gymnax
import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from pgjax.envs import memory, tokens  # noqa: F401  (register the memory and token tasks with gymnax)
from pgjax.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    NormalizeObservation,
    RunningMeanStd,
    ScaleReward,
)


def make_env(name: str, **param_overrides: Any):
    """Return `(env, env_params)` for a gymnax-registered environment.

    `param_overrides` replace fields of the environment's default params
    (for example `max_steps_in_episode=200`).
    """
    known = list(gymnax.registered_envs)
    if name not in known:
        raise ValueError(f"env: unknown environment {name!r}; known environments: {', '.join(known)}")
    env, env_params = gymnax.make(name)
    allowed = set(env_params.__dataclass_fields__)
    unknown = sorted(set(param_overrides) - allowed)
    if unknown:
        raise ValueError(
            f"env_params: {name} has no parameter(s) {', '.join(unknown)}; "
            f"its parameters are: {', '.join(sorted(allowed))}"
        )
    return env, env_params.replace(**param_overrides)


def is_discrete(env, env_params) -> bool:
    """Whether `env`'s action space is discrete (a categorical policy) rather than continuous."""
    return isinstance(env.action_space(env_params), spaces.Discrete)


def _is_key_batch(key: chex.PRNGKey) -> bool:
    """True for a batch of keys `[n]` (typed) or `[n, 2]` (raw uint32), False for one key."""
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    return key.ndim == (1 if typed else 2)


class VecEnv:
    """`num_envs` copies of a gymnax environment, vmapped; observations as float32."""

    def __init__(self, env, num_envs: int):
        self.env = env
        self.num_envs = num_envs

    def reset(self, key: chex.PRNGKey, params):
        """`key` is one key (split into one per environment) or already one key per
        environment, `[num_envs]` (see `group_reset_keys`): environments given equal
        keys start from equal states."""
        keys = key if _is_key_batch(key) else jax.random.split(key, self.num_envs)
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)
        return obs.astype(jnp.float32), state

    def step(self, keys: chex.PRNGKey, state, action: chex.Array, params):
        """`keys` has one key per environment: `[num_envs]`."""
        obs, state, reward, terminated, truncated, info = jax.vmap(
            self.env.step, in_axes=(0, 0, 0, None)
        )(keys, state, action, params)
        info = {**info, "final_observation": info["final_observation"].astype(jnp.float32)}
        return obs.astype(jnp.float32), state, reward.astype(jnp.float32), terminated, truncated, info

    def observation_space(self, params):
        return self.env.observation_space(params)

    def action_space(self, params):
        return self.env.action_space(params)


def make_vec_env(
    name: str,
    num_envs: int,
    *,
    normalize_observations: bool = False,
    scale_rewards: bool = False,
    gamma=0.99,
    obs_statistics: RunningMeanStd | None = None,
    env_params: dict | None = None,
):
    """The batched, wrapped environment every algorithm trains on.

    Order, inside out: `VecEnv` → `EpisodeStatistics` (raw returns) →
    `ClipAction` (continuous actions) → `ScaleReward` → `NormalizeObservation`
    (outermost). `obs_statistics` freezes the normaliser at given statistics.
    Returns `(vec_env, env_params)`.
    """
    env, params = make_env(name, **(env_params or {}))
    vec_env = EpisodeStatistics(VecEnv(env, num_envs))
    if not is_discrete(env, params):
        vec_env = ClipAction(vec_env)
    if scale_rewards:
        vec_env = ScaleReward(vec_env, gamma)
    if normalize_observations:
        vec_env = NormalizeObservation(vec_env, statistics=obs_statistics)
    return vec_env, params
