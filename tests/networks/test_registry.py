"""Networks built by name from a config (`pgjax.networks.registry`): the registry, the torso
and the Gaussian's initial σ as config fields, and their rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.algorithms import build, ppo
from pgjax.envs import make_env
from pgjax.networks import make_network


@pytest.mark.parametrize("torso, conv", [("auto", True), ("cnn", True), ("mlp", False)])
def test_torso_field_picks_the_cnn_or_a_flattening_mlp(torso, conv):
    config = ppo.Config(env="Breakout-MinAtar", torso=torso, hidden_sizes=(8,))
    env, env_params = make_env(config.env)
    network = make_network(config.network, env.observation_space(env_params), env.action_space(env_params))
    params = network.init(jax.random.PRNGKey(0), jnp.zeros((1, 10, 10, 4))).actor["params"]["actor_torso"]
    if conv:
        assert params["Conv_0"]["kernel"].shape == (3, 3, 4, 16)
        assert params["MLPTorso_0"]["Dense_0"]["kernel"].shape == (1600, 8)
    else:
        assert set(params) == {"Dense_0"} and params["Dense_0"]["kernel"].shape == (400, 8)


def test_cnn_torso_needs_image_observations():
    with pytest.raises(ValueError, match=r"torso: 'cnn' needs image observations \[H, W, C\]; CartPole-v1's are \(4,\)"):
        ppo.Config(env="CartPole-v1", torso="cnn")
    with pytest.raises(ValueError, match="torso: must be one of auto, mlp, cnn, got 'conv'"):
        ppo.Config(torso="conv")


@pytest.mark.parametrize("network", ["mlp", "gru"])
def test_log_std_init_field_sets_the_gaussians_initial_sigma(network):
    config = ppo.Config(env="Pendulum-v1", network=network, hidden_sizes=(8,), gru_size=8, log_std_init=0.5)
    env, env_params = make_env(config.env)
    built = make_network(config.network, env.observation_space(env_params), env.action_space(env_params))
    params = built.init(jax.random.PRNGKey(0), jnp.zeros((2, 3)))
    (log_std,) = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(params) if "log_std" in str(path)]
    np.testing.assert_array_equal(log_std, [0.5])


def test_log_std_init_is_checked():
    with pytest.raises(ValueError, match=r"log_std_init: sets the Gaussian policy's initial σ, but CartPole-v1's "
                                         r"actions are discrete \(leave it at 0.0\), got 0.5"):
        ppo.Config(env="CartPole-v1", log_std_init=0.5)
    for bad in (float("inf"), float("nan"), 25.0, "0.5", True):
        with pytest.raises(ValueError, match=r"log_std_init: must be a number in \[-20, 20\]"):
            ppo.Config(env="Pendulum-v1", log_std_init=bad)
    assert ppo.Config.for_env("MountainCarContinuous-v0").network.log_std_init == 0.5


def test_unknown_network_is_refused_by_name():
    with pytest.raises(ValueError, match="network: must be one of the registered networks"):
        ppo.Config(network="lstm")


def test_a_registered_network_is_built_from_its_name():
    from pgjax.networks import NETWORKS, Recurrent, RecurrentActorCritic, register_network

    def wide_gru(action_dim, discrete, obs_ndim, config):
        return Recurrent(RecurrentActorCritic(action_dim, discrete, obs_ndim, hidden_sizes=(16,), gru_size=16))

    register_network("test_wide_gru", wide_gru, recurrent=True)
    try:
        config = ppo.Config.for_env("RepeatPrevious-v0", network="test_wide_gru", num_minibatches=2)
        assert config.recurrent
        state = build.init_state(config, jax.random.key(0))
        assert state.carry.shape == (config.num_envs, 16)
        with pytest.raises(ValueError, match="network: 'test_wide_gru' is already registered"):
            register_network("test_wide_gru", wide_gru, recurrent=True)
    finally:
        NETWORKS.pop("test_wide_gru")
