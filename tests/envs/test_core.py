"""Environments made and batched (`pgjax.envs.core`): `make_env`'s checks, the wrapper stack of
`make_vec_env`, and `VecEnv`'s automatic reset with the true final observation."""

import jax
import numpy as np
import pytest

from pgjax.envs import ClipAction, EpisodeStatistics, NormalizeObservation, ScaleReward, VecEnv, make_env, make_vec_env

from tests.envs.stepping import cartpole_actions, play


def test_make_env_applies_overrides():
    env, params = make_env("CartPole-v1", max_steps_in_episode=10)
    assert params.max_steps_in_episode == 10
    assert env.name == "CartPole-v1"


def test_make_env_unknown_environment_raises_naming_it():
    with pytest.raises(ValueError, match="CartPole-v7"):
        make_env("CartPole-v7")


def test_make_env_unknown_parameter_raises_naming_it():
    with pytest.raises(ValueError, match="max_steps_in_episodes"):
        make_env("CartPole-v1", max_steps_in_episodes=10)


def test_make_vec_env_stack_order():
    env, _ = make_vec_env("Pendulum-v1", 2, normalize_observations=True, scale_rewards=True)
    layers = []
    while not isinstance(env, VecEnv):
        layers.append(type(env))
        env = env.env
    assert layers == [NormalizeObservation, ScaleReward, ClipAction, EpisodeStatistics]
    discrete, _ = make_vec_env("CartPole-v1", 2)
    assert isinstance(discrete, EpisodeStatistics) and isinstance(discrete.env, VecEnv)


def test_final_observation_is_the_pre_reset_observation(cartpole_next_obs):
    env, params = make_env("CartPole-v1", max_steps_in_episode=12)
    num_steps = 40
    actions = cartpole_actions(num_steps)
    reset_obs, _, (obs, _, terminated, truncated, info) = play(
        VecEnv(env, actions.shape[1]), params, jax.random.PRNGKey(2), actions
    )
    final_obs = info["final_observation"]
    previous_obs = np.concatenate([reset_obs[None], obs[:-1]])
    done = terminated | truncated
    assert terminated.any() and truncated.any()
    for t in range(num_steps):
        np.testing.assert_allclose(final_obs[t], cartpole_next_obs(previous_obs[t], actions[t], params), atol=1e-5)
    # Where nothing ended the two agree; where an episode ended, obs is a fresh reset state.
    np.testing.assert_array_equal(final_obs[~done], obs[~done])
    assert np.all(np.abs(obs[done]) <= 0.05)
    assert np.all(np.any(final_obs[done] != obs[done], axis=-1))
