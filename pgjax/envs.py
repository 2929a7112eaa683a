"""Gymnax environments, batched, with the wrappers policy-gradient methods need.

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
from flax import struct
from gymnax.environments import spaces

from pgjax import tasks, token_tasks  # noqa: F401  (register the memory and token tasks with gymnax)


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
    return isinstance(env.action_space(env_params), spaces.Discrete)


@struct.dataclass
class RunningMeanStd:
    """Mean and variance of a stream of batches (Chan et al.'s parallel update)."""

    mean: chex.Array
    var: chex.Array
    count: chex.Array

    @classmethod
    def create(cls, shape) -> RunningMeanStd:
        # A tiny prior count keeps the first normalised values finite.
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4))

    def update(self, batch: chex.Array) -> RunningMeanStd:
        """Merge a batch `[B, *shape]` into the statistics."""
        batch_mean = jnp.mean(batch, axis=0)
        batch_var = jnp.var(batch, axis=0)
        batch_count = batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        return RunningMeanStd(mean, m2 / total, total)


def _is_key_batch(key: chex.PRNGKey) -> bool:
    """True for a batch of keys `[n]` (typed) or `[n, 2]` (raw uint32), False for one key."""
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    return key.ndim == (1 if typed else 2)


def group_reset_keys(key: chex.PRNGKey, num_groups: int, group_size: int) -> chex.PRNGKey:
    """`num_groups · group_size` reset keys where environments `g·K … g·K + K − 1` share
    one key, so each group of `K = group_size` environments starts from the same state
    (the groups RLOO and GRPO compare). Returns keys `[num_groups · group_size]`."""
    return jnp.repeat(jax.random.split(key, num_groups), group_size, axis=0)


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


class Wrapper:
    """Delegates everything it does not override to the wrapped environment."""

    def __init__(self, env):
        self.env = env

    def __getattr__(self, name):
        return getattr(self.env, name)


@struct.dataclass
class EpisodeStatisticsState:
    inner: Any
    episode_return: chex.Array  # [num_envs] undiscounted return so far
    episode_length: chex.Array  # [num_envs]


class EpisodeStatistics(Wrapper):
    """Tracks undiscounted return and length of each episode across auto-resets.

    Adds to `info`: `episode_done` `[N]` (an episode ended at this step),
    `episode_return` and `episode_length` `[N]` (of that episode where
    `episode_done`, of the running episode elsewhere). Wrap the raw `VecEnv` so
    the statistics see the environment's own rewards.
    """

    def reset(self, key, params):
        obs, inner = self.env.reset(key, params)
        zeros = jnp.zeros(self.env.num_envs)
        return obs, EpisodeStatisticsState(inner, zeros, zeros.astype(jnp.int32))

    def step(self, keys, state, action, params):
        obs, inner, reward, terminated, truncated, info = self.env.step(keys, state.inner, action, params)
        done = jnp.logical_or(terminated, truncated)
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        info = {
            **info,
            "episode_done": done,
            "episode_return": episode_return,
            "episode_length": episode_length,
        }
        state = EpisodeStatisticsState(
            inner, jnp.where(done, 0.0, episode_return), jnp.where(done, 0, episode_length)
        )
        return obs, state, reward, terminated, truncated, info


class ClipAction(Wrapper):
    """Clips continuous actions to the action space's bounds before the environment sees them.

    The policy's log-probability stays that of the unclipped sample, which is
    what the policy-gradient estimator differentiates.
    """

    def step(self, keys, state, action, params):
        space = self.env.action_space(params)
        return self.env.step(keys, state, jnp.clip(action, space.low, space.high), params)


@struct.dataclass
class ScaleRewardState:
    inner: Any
    discounted_return: chex.Array  # [num_envs]
    return_stats: RunningMeanStd  # scalar statistics of discounted_return


class ScaleReward(Wrapper):
    """Divides rewards by the running standard deviation of the discounted return.

    r̃_t = r_t / sqrt(Var[G_t] + ε),  G_t = γ G_{t−1} (1 − done_{t−1}) + r_t.
    `gamma` may be a traced value.
    """

    def __init__(self, env, gamma, epsilon: float = 1e-8):
        super().__init__(env)
        self.gamma = gamma
        self.epsilon = epsilon

    def reset(self, key, params):
        obs, inner = self.env.reset(key, params)
        return obs, ScaleRewardState(inner, jnp.zeros(self.env.num_envs), RunningMeanStd.create(()))

    def step(self, keys, state, action, params):
        obs, inner, reward, terminated, truncated, info = self.env.step(keys, state.inner, action, params)
        discounted_return = state.discounted_return * self.gamma + reward
        return_stats = state.return_stats.update(discounted_return)
        scaled = reward / jnp.sqrt(return_stats.var + self.epsilon)
        done = jnp.logical_or(terminated, truncated)
        state = ScaleRewardState(inner, jnp.where(done, 0.0, discounted_return), return_stats)
        return obs, state, scaled, terminated, truncated, info


@struct.dataclass
class NormalizeObservationState:
    inner: Any
    obs_stats: RunningMeanStd


class NormalizeObservation(Wrapper):
    """Standardises observations with running statistics shared by all copies.

    õ = clip((o − μ) / sqrt(σ² + ε), −clip, clip). The statistics are updated
    with every batch of observations, unless fixed `statistics` are given (to
    evaluate a trained agent with the statistics it was trained with).
    `final_observation` is normalised with the same statistics, so bootstrapped
    values see the same input distribution as the rest.
    """

    def __init__(self, env, statistics: RunningMeanStd | None = None, clip: float = 10.0, epsilon: float = 1e-8):
        super().__init__(env)
        self.statistics = statistics
        self.clip = clip
        self.epsilon = epsilon

    def normalize(self, obs, stats: RunningMeanStd):
        """õ for observations `obs [..., *shape]` under `stats`."""
        return jnp.clip((obs - stats.mean) / jnp.sqrt(stats.var + self.epsilon), -self.clip, self.clip)

    def _updated(self, stats: RunningMeanStd, obs) -> RunningMeanStd:
        return stats if self.statistics is not None else stats.update(obs)

    def reset(self, key, params):
        obs, inner = self.env.reset(key, params)
        stats = self.statistics
        if stats is None:
            stats = RunningMeanStd.create(obs.shape[1:]).update(obs)
        return self.normalize(obs, stats), NormalizeObservationState(inner, stats)

    def step(self, keys, state, action, params):
        obs, inner, reward, terminated, truncated, info = self.env.step(keys, state.inner, action, params)
        stats = self._updated(state.obs_stats, obs)
        info = {**info, "final_observation": self.normalize(info["final_observation"], stats)}
        return self.normalize(obs, stats), NormalizeObservationState(inner, stats), reward, terminated, truncated, info


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
