"""`rollout`: time-major shapes, next_value of the true next state, determinism; and
`rollout_episodes`: groups that share their start, each environment's first episode only.

The policy and critic here are linear functions of the observation with known
weights, so every expectation is computed in NumPy from the recorded
observations and CartPole's own dynamics.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.distributions import Categorical, DiagGaussian
from pgjax.envs import make_vec_env
from pgjax.rollout import Trajectory, first_episode_mask, group_reset_keys, rollout, rollout_episodes

T, N, LIMIT = 12, 3, 5

PARAMS = {
    "policy": jnp.array([[0.3, -0.2], [1.0, 0.5], [-2.0, 2.0], [0.7, -0.1]]),
    "critic": jnp.array([2.0, -1.0, 5.0, 0.5]),
    "bias": jnp.asarray(0.25),
}


def policy_fn(params, carry, obs, reset):
    return carry, Categorical(obs @ params["policy"]), value_fn(params, carry, obs)


def value_fn(params, carry, obs):
    return obs @ params["critic"] + params["bias"]


def numpy_value(obs):
    return np.asarray(obs, np.float64) @ np.asarray(PARAMS["critic"]) + float(PARAMS["bias"])


@pytest.fixture(scope="module")
def cartpole():
    env, env_params = make_vec_env("CartPole-v1", N, env_params={"max_steps_in_episode": LIMIT})
    obs, env_state = env.reset(jax.random.PRNGKey(0), env_params)
    run = jax.jit(partial(rollout, env, env_params, policy_fn), static_argnums=(0,), static_argnames="num_steps")
    return env_params, obs, env_state, run


@pytest.fixture(scope="module")
def cartpole_rollout(cartpole):
    env_params, obs, env_state, run = cartpole
    final_state, final_obs, _, _, trajectory = run(value_fn, PARAMS, env_state, obs, jax.random.PRNGKey(1), num_steps=T)
    return env_params, np.asarray(obs), np.asarray(final_obs), jax.tree.map(np.asarray, trajectory)


def test_trajectory_is_time_major(cartpole_rollout):
    _, _, final_obs, trajectory = cartpole_rollout
    assert isinstance(trajectory, Trajectory)
    assert trajectory.obs.shape == (T, N, 4)
    assert final_obs.shape == (N, 4)
    for field in ("action", "reward", "terminated", "truncated", "log_prob", "value", "next_value",
                  "episode_done", "episode_return", "episode_length"):
        assert getattr(trajectory, field).shape == (T, N), field


def test_trajectory_records_what_the_policy_saw_and_did(cartpole_rollout, cartpole_next_obs):
    env_params, first_obs, final_obs, trajectory = cartpole_rollout
    np.testing.assert_array_equal(trajectory.obs[0], first_obs)
    np.testing.assert_allclose(trajectory.value, numpy_value(trajectory.obs), rtol=1e-5, atol=1e-5)
    logits = np.asarray(trajectory.obs, np.float64) @ np.asarray(PARAMS["policy"])
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected_log_prob = np.take_along_axis(log_softmax, trajectory.action[..., None].astype(int), -1)[..., 0]
    np.testing.assert_allclose(trajectory.log_prob, expected_log_prob, rtol=1e-5, atol=1e-5)
    # Consecutive observations follow CartPole's dynamics wherever no episode ended.
    done = trajectory.terminated | trajectory.truncated
    np.testing.assert_array_equal(trajectory.episode_done, done)
    following_obs = np.concatenate([trajectory.obs[1:], final_obs[None]])
    for t in range(T):
        successor = cartpole_next_obs(trajectory.obs[t], trajectory.action[t], env_params)
        np.testing.assert_allclose(following_obs[t][~done[t]], successor[~done[t]], atol=1e-5)


def test_next_value_is_the_value_of_the_true_next_state(cartpole_rollout, cartpole_next_obs):
    env_params, _, final_obs, trajectory = cartpole_rollout
    done = trajectory.terminated | trajectory.truncated
    assert trajectory.truncated.any(), "the time limit must cut episodes inside the rollout"
    true_next_obs = np.stack(
        [cartpole_next_obs(trajectory.obs[t], trajectory.action[t], env_params) for t in range(T)]
    )
    np.testing.assert_allclose(trajectory.next_value, numpy_value(true_next_obs), rtol=1e-4, atol=1e-4)

    # Where an episode ended, the value of the reset observation that follows is a
    # different number: next_value must not be it.
    following_obs = np.concatenate([trajectory.obs[1:], final_obs[None]])
    value_of_reset = numpy_value(following_obs)
    assert np.all(np.abs(trajectory.next_value[done] - value_of_reset[done]) > 1e-3)
    np.testing.assert_allclose(trajectory.next_value[~done], value_of_reset[~done], rtol=1e-4, atol=1e-4)


def test_without_value_fn_next_values_are_zero(cartpole):
    env_params, obs, env_state, run = cartpole
    _, _, _, _, trajectory = run(None, PARAMS, env_state, obs, jax.random.PRNGKey(1), num_steps=4)
    np.testing.assert_array_equal(trajectory.next_value, np.zeros((4, N)))


def test_rollout_is_deterministic_for_a_fixed_key(cartpole, cartpole_rollout):
    env_params, obs, env_state, run = cartpole
    _, final_obs, trajectory = cartpole_rollout[1:]
    _, again_obs, _, _, again = run(value_fn, PARAMS, env_state, obs, jax.random.PRNGKey(1), num_steps=T)
    for expected, actual in zip(jax.tree.leaves(trajectory), jax.tree.leaves(again)):
        np.testing.assert_array_equal(expected, actual)
    np.testing.assert_array_equal(final_obs, again_obs)
    _, _, _, _, other = run(value_fn, PARAMS, env_state, obs, jax.random.PRNGKey(2), num_steps=T)
    assert not np.array_equal(trajectory.action, np.asarray(other.action))


def test_continuous_rollout_shapes():
    env, env_params = make_vec_env("Pendulum-v1", N, env_params={"max_steps_in_episode": LIMIT})
    obs, env_state = env.reset(jax.random.PRNGKey(0), env_params)

    def gaussian_policy(params, carry, obs, reset):
        return carry, DiagGaussian(obs[..., :1] * params, jnp.zeros(obs.shape[:-1] + (1,))), obs[..., 0]

    _, next_obs, _, _, trajectory = rollout(
        env, env_params, gaussian_policy, lambda params, carry, obs: obs[..., 0], 2.0, env_state, obs,
        jax.random.PRNGKey(3), num_steps=T,
    )
    assert trajectory.obs.shape == (T, N, 3)
    assert trajectory.action.shape == (T, N, 1)
    assert next_obs.shape == (N, 3)
    for field in ("reward", "terminated", "truncated", "log_prob", "value", "next_value"):
        assert getattr(trajectory, field).shape == (T, N), field
    # Pendulum only ends by its time limit.
    expected_truncated = np.zeros((T, N), bool)
    expected_truncated[LIMIT - 1 :: LIMIT] = True
    np.testing.assert_array_equal(trajectory.truncated, expected_truncated)
    assert not np.asarray(trajectory.terminated).any()


# ---------------------------------------------------------------- episodes, in groups


def test_first_episode_mask_matches_loop():
    done = np.random.default_rng(0).uniform(size=(9, 5)) < 0.2
    expected = np.zeros((9, 5), np.float32)
    for i in range(5):
        running = True
        for t in range(9):
            expected[t, i] = float(running)
            if done[t, i]:
                running = False
    np.testing.assert_array_equal(first_episode_mask(jnp.asarray(done)), expected)


def test_group_reset_keys_share_initial_states_within_groups_only():
    env, params = make_vec_env("CartPole-v1", 6)
    obs, _ = env.reset(group_reset_keys(jax.random.key(0), 3, 2), params)
    obs = np.asarray(obs)
    for g in range(3):
        np.testing.assert_array_equal(obs[2 * g], obs[2 * g + 1])
    assert len({tuple(o) for o in obs}) == 3


def test_rollout_episodes_masks_everything_after_the_first_episode():
    """The linear policy on CartPole, nearly uniform at its small observations: each env's
    first episode ends early, after which the env auto-resets; only the first episode counts."""
    env, env_params = make_vec_env("CartPole-v1", 16)
    _, _, episodes = rollout_episodes(env, env_params, policy_fn, None, PARAMS, jax.random.key(2), 60, group_size=4)
    alive = np.asarray(episodes.alive)
    raw_done = np.asarray(episodes.terminated | episodes.truncated)
    for i in range(16):
        steps = int(alive[:, i].sum())
        assert np.all(alive[:steps, i] == 1) and np.all(alive[steps:, i] == 0)
        # The episode's end is the only flagged step, and the reward stops there.
        assert raw_done[:, i].sum() == 1 and raw_done[steps - 1, i]
        assert np.all(np.asarray(episodes.reward)[steps:, i] == 0)
        assert float(np.asarray(episodes.reward)[:, i].sum()) == steps  # CartPole pays 1 per step
        if steps < 60:  # ended inside the window: the statistics report the same episode
            assert np.asarray(episodes.episode_done)[:, i].sum() == 1
            assert np.asarray(episodes.episode_return)[steps - 1, i] == steps
    # Envs of a group start alike, yet sampled actions make their episodes differ.
    first_obs = np.asarray(episodes.obs[0])
    np.testing.assert_array_equal(first_obs[0], first_obs[3])
    assert not np.array_equal(first_obs[0], first_obs[4])
    assert len(set(alive.sum(axis=0).tolist())) > 1
