"""The batched wrappers (`pgjax.envs.wrappers`) against manual NumPy bookkeeping: episode
statistics across automatic resets, time limits, running statistics, observation
normalisation, reward scaling and action clipping."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

from pgjax.envs import ClipAction, EpisodeStatistics, NormalizeObservation, RunningMeanStd, ScaleReward, VecEnv, make_env

from tests.envs.stepping import cartpole_actions, play

PRIOR_COUNT = 1e-4  # RunningMeanStd's prior: a pseudo-sample of mean 0 and variance 1


def with_prior(samples):
    """Mean and variance of `samples` `[n, ...]` pooled with RunningMeanStd's prior pseudo-sample.

    Pooling groups (prior: count c, mean 0, var 1; data: the samples) around
    the pooled mean m gives var = (c·1 + c·m² + Σ (x − m)²) / (n + c).
    """
    samples = np.asarray(samples, np.float64)
    total = samples.shape[0] + PRIOR_COUNT
    mean = samples.sum(axis=0) / total
    var = (PRIOR_COUNT * (1.0 + mean**2) + np.sum((samples - mean) ** 2, axis=0)) / total
    return mean, var, total


# ---------------------------------------------------------------- episode statistics and time limits


@pytest.mark.parametrize("name", ["CartPole-v1", "Pendulum-v1"])
def test_episode_statistics_across_auto_resets(name):
    num_steps = 50
    if name == "CartPole-v1":
        env, params = make_env(name, max_steps_in_episode=15)
        actions = cartpole_actions(num_steps)
    else:
        # Pendulum never terminates; rewards are real-valued, so returns differ from lengths.
        env, params = make_env(name, max_steps_in_episode=7)
        actions = np.broadcast_to(np.array([[-2.0], [0.0], [1.5]]), (num_steps, 3, 1))
    num_envs = actions.shape[1]
    _, _, (_, reward, terminated, truncated, info) = play(
        EpisodeStatistics(VecEnv(env, num_envs)), params, jax.random.PRNGKey(0), actions
    )

    running_return = np.zeros(num_envs)
    running_length = np.zeros(num_envs, int)
    finished = []
    for t in range(num_steps):
        running_return += reward[t]
        running_length += 1
        done = terminated[t] | truncated[t]
        np.testing.assert_array_equal(info["episode_done"][t], done)
        np.testing.assert_allclose(info["episode_return"][t], running_return, rtol=1e-5)
        np.testing.assert_array_equal(info["episode_length"][t], running_length)
        finished += list(running_length[done])
        running_return[done] = 0.0
        running_length[done] = 0
    assert len(finished) >= 2 * num_envs  # several auto-resets per environment
    assert truncated.any()
    if name == "CartPole-v1":
        assert terminated.any()
        assert max(finished) == 15  # an alternating policy reaches the time limit
        assert min(finished) < 15  # a constant one topples the pole first


@pytest.mark.parametrize("name, limit", [("CartPole-v1", 10), ("Pendulum-v1", 4)])
def test_time_limit_truncates_and_does_not_terminate(name, limit):
    env, params = make_env(name, max_steps_in_episode=limit)
    num_steps, num_envs = 3 * limit, 2
    if name == "CartPole-v1":
        actions = cartpole_actions(num_steps)[:, 2:]  # the alternating, balancing policies
    else:
        actions = np.zeros((num_steps, num_envs, 1), np.float32)
    _, _, (_, _, terminated, truncated, info) = play(
        EpisodeStatistics(VecEnv(env, num_envs)), params, jax.random.PRNGKey(1), actions
    )
    expected = np.zeros((num_steps, num_envs), bool)
    expected[limit - 1 :: limit] = True
    np.testing.assert_array_equal(truncated, expected)
    assert not terminated.any()
    np.testing.assert_array_equal(info["episode_length"][expected], limit)


# ---------------------------------------------------------------- running statistics and normalisation


def test_running_mean_std_update_matches_numpy_on_concatenation():
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=3.0, scale=2.0, size=(n, 2, 3)).astype(np.float32) for n in (5, 1, 17, 8)]
    # Seeded with the exact statistics of the first batch: no prior at all.
    first = batches[0]
    stats = RunningMeanStd(jnp.asarray(first.mean(axis=0)), jnp.asarray(first.var(axis=0)), jnp.asarray(5.0))
    update = jax.jit(RunningMeanStd.update)
    for batch in batches[1:]:
        stats = update(stats, jnp.asarray(batch))
    everything = np.concatenate(batches).astype(np.float64)
    np.testing.assert_allclose(stats.mean, everything.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.var, everything.var(axis=0), rtol=1e-4)
    np.testing.assert_allclose(stats.count, len(everything), rtol=1e-6)

    # From `create`, the statistics carry the prior pseudo-sample.
    stats = RunningMeanStd.create((2, 3))
    for batch in batches:
        stats = update(stats, jnp.asarray(batch))
    mean, var, count = with_prior(everything)
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.var, var, rtol=1e-4)
    np.testing.assert_allclose(stats.count, count, rtol=1e-6)


def test_normalize_observation_statistics_cover_every_observation_seen():
    env, params = make_env("CartPole-v1", max_steps_in_episode=5)
    num_steps = 12
    actions = cartpole_actions(num_steps)
    num_envs = actions.shape[1]
    key = jax.random.PRNGKey(3)
    raw_reset, _, (raw_obs, raw_reward, _, _, raw_info) = play(VecEnv(env, num_envs), params, key, actions)
    wrapped = NormalizeObservation(VecEnv(env, num_envs))
    reset_obs, state, (obs, reward, _, _, info) = play(wrapped, params, key, actions)

    # Every observation the agent was shown (reset batch and every step) and nothing else.
    mean, var, count = with_prior(np.concatenate([raw_reset, raw_obs.reshape(-1, 4)]))
    np.testing.assert_allclose(state.obs_stats.mean, mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(state.obs_stats.var, var, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(state.obs_stats.count, count, rtol=1e-6)

    # The last step is normalised with the final statistics, final_observation included.
    normalized = lambda x: np.clip((x - mean) / np.sqrt(var + 1e-8), -10, 10)  # noqa: E731
    np.testing.assert_allclose(obs[-1], normalized(raw_obs[-1]), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(
        info["final_observation"][-1], normalized(raw_info["final_observation"][-1]), rtol=1e-3, atol=1e-4
    )
    # The reset batch is normalised with the statistics of the reset batch alone.
    reset_mean, reset_var, _ = with_prior(raw_reset)
    expected_reset = np.clip((raw_reset - reset_mean) / np.sqrt(reset_var + 1e-8), -10, 10)
    np.testing.assert_allclose(reset_obs, expected_reset, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(reward, raw_reward)


def test_normalize_observation_with_frozen_statistics():
    env, params = make_env("CartPole-v1", max_steps_in_episode=5)
    num_steps = 8
    actions = cartpole_actions(num_steps)
    key = jax.random.PRNGKey(4)
    frozen = RunningMeanStd(
        jnp.array([0.01, -0.02, 0.0, 0.03]), jnp.array([0.5, 0.001, 2.0, 1e-6]), jnp.asarray(1234.0)
    )
    raw_reset, _, (raw_obs, *_) = play(VecEnv(env, 4), params, key, actions)
    reset_obs, state, (obs, *_) = play(NormalizeObservation(VecEnv(env, 4), statistics=frozen), params, key, actions)

    for field in ("mean", "var", "count"):
        np.testing.assert_array_equal(getattr(state.obs_stats, field), getattr(frozen, field))
    mean, var = np.asarray(frozen.mean), np.asarray(frozen.var)
    expected = np.clip((raw_obs - mean) / np.sqrt(var + 1e-8), -10.0, 10.0)
    np.testing.assert_allclose(obs, expected, rtol=1e-4, atol=1e-4)
    expected_reset = np.clip((raw_reset - mean) / np.sqrt(var + 1e-8), -10.0, 10.0)
    np.testing.assert_allclose(reset_obs, expected_reset, rtol=1e-4, atol=1e-4)
    assert np.any(np.abs(obs) == 10.0)  # the tiny variance of the last feature makes the clip bite


def test_scale_reward_matches_numpy_recomputation():
    env, params = make_env("Pendulum-v1", max_steps_in_episode=6)
    num_steps, gamma = 15, 0.9
    actions = np.broadcast_to(np.array([[-2.0], [0.5], [2.0]], np.float32), (num_steps, 3, 1))
    key = jax.random.PRNGKey(5)
    _, _, (_, raw_reward, terminated, truncated, _) = play(VecEnv(env, 3), params, key, actions)
    _, state, (_, scaled, *_) = play(ScaleReward(VecEnv(env, 3), gamma), params, key, actions)

    discounted = np.zeros(3)
    seen = []
    for t in range(num_steps):
        discounted = gamma * discounted + raw_reward[t]
        seen.append(discounted.copy())
        _, var, _ = with_prior(np.concatenate(seen))
        np.testing.assert_allclose(scaled[t], raw_reward[t] / np.sqrt(var + 1e-8), rtol=1e-4)
        discounted[terminated[t] | truncated[t]] = 0.0
    assert truncated.any()
    np.testing.assert_allclose(state.discounted_return, discounted, rtol=1e-5)


class RecordingEnv:
    """A batched stand-in environment whose observation is the action it received."""

    num_envs = 3

    def action_space(self, params):
        return spaces.Box(low=jnp.array([-1.0, 0.0]), high=jnp.array([1.0, 0.5]), shape=(2,))

    def step(self, keys, state, action, params):
        zeros = jnp.zeros(self.num_envs)
        return action, state, zeros, zeros > 0, zeros > 0, {"final_observation": action}


def test_clip_action_clips_to_the_action_space():
    actions = jnp.array([[-3.0, 0.2], [0.5, 7.0], [2.0, -1.0]])
    received, *_ = ClipAction(RecordingEnv()).step(None, None, actions, None)
    np.testing.assert_array_equal(received, np.clip(np.asarray(actions), [-1.0, 0.0], [1.0, 0.5]))
