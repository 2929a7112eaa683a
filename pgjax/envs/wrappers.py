"""Wrappers over a batch of environments (`VecEnv`): episode statistics, action clipping,
reward scaling and observation normalisation. Statistics shared by all copies (the
normaliser's running mean and variance) are computed once over the whole batch and live in
the environment state, not in a closure."""

from __future__ import annotations

from typing import Any

import chex
import jax.numpy as jnp
from flax import struct


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
