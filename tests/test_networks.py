"""The LAPACK-free orthogonal initialiser, the im2col convolution and ActorCritic's output shapes and torsos."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.distributions import Categorical, DiagGaussian
from pgjax.algorithms import ppo
from pgjax.networks import ActorCritic, Conv3x3, orthogonal


@pytest.mark.parametrize(
    "shape",
    [(5, 5), (64, 8), (8, 64), (1, 7), (7, 1), (3, 3, 4, 16), (3, 3, 16, 4), (2, 2, 1, 8)],
)
@pytest.mark.parametrize("scale", [1.0, np.sqrt(2), 0.01])
def test_orthogonal_is_scaled_orthonormal(shape, scale):
    weights = orthogonal(scale)(jax.random.PRNGKey(0), shape)
    assert weights.shape == shape and weights.dtype == jnp.float32
    weights = np.asarray(weights, np.float64)
    # Like flax's initialiser: all but the last axis are fan-in, flattened into rows.
    matrix = weights.reshape(-1, shape[-1])
    rows, cols = matrix.shape
    gram = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    np.testing.assert_allclose(gram, scale**2 * np.eye(min(rows, cols)), atol=1e-5 * max(scale**2, 1e-2))


def test_orthogonal_is_random_and_keeps_dtype():
    init = orthogonal(1.0)
    first = init(jax.random.PRNGKey(0), (6, 4))
    second = init(jax.random.PRNGKey(1), (6, 4))
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(first, init(jax.random.PRNGKey(0), (6, 4)))
    assert init(jax.random.PRNGKey(0), (6, 4), jnp.bfloat16).dtype == jnp.bfloat16


def test_orthogonal_is_unbiased_over_keys():
    """Entries of a random orthogonal n×n matrix have mean 0 and variance 1/n."""
    n = 8
    samples = jax.jit(jax.vmap(lambda key: orthogonal(1.0)(key, (n, n))))(jax.random.split(jax.random.PRNGKey(2), 500))
    entries = np.asarray(samples).ravel()
    assert abs(entries.mean()) < 5 * np.sqrt(1.0 / n / entries.size)  # 5 standard errors
    np.testing.assert_allclose(entries.var(), 1.0 / n, rtol=0.05)


def _init_and_apply(network, obs):
    # One compiled program each: eager `init` would compile every layer's initialiser separately.
    params = jax.jit(network.init)(jax.random.PRNGKey(0), obs)
    return params, jax.jit(network.apply)(params, obs)


def test_actor_critic_discrete():
    network = ActorCritic(action_dim=3, discrete=True, hidden_sizes=(64, 64))
    _, (dist, value) = _init_and_apply(network, jax.random.normal(jax.random.PRNGKey(3), (32, 4)))
    assert isinstance(dist, Categorical)
    assert dist.logits.shape == (32, 3)
    assert value.shape == (32,)
    # The actor head is initialised with scale 0.01: the initial policy is near uniform.
    assert np.max(np.abs(np.asarray(dist.logits))) < 0.1
    np.testing.assert_allclose(dist.entropy(), np.log(3), atol=1e-2)


def test_actor_critic_continuous():
    network = ActorCritic(action_dim=3, discrete=False, hidden_sizes=(16,), log_std_init=-0.5)
    params, (dist, value) = _init_and_apply(network, jnp.ones((7, 5)))
    assert isinstance(dist, DiagGaussian)
    assert dist.mean.shape == (7, 3)
    assert dist.log_std.shape == (7, 3)
    np.testing.assert_array_equal(dist.log_std, np.full((7, 3), -0.5))
    assert value.shape == (7,)
    # The log std is one learned vector, not an output of the torso.
    assert params["params"]["log_std"].shape == (3,)


def test_actor_critic_image_observations():
    """MinAtar-like `[10, 10, 4]` observations go through the CNN torso with any batch prefix."""
    network = ActorCritic(action_dim=6, discrete=True, obs_ndim=3, hidden_sizes=(32,))
    params = jax.jit(network.init)(jax.random.PRNGKey(0), jnp.zeros((10, 10, 4)))
    assert params["params"]["actor_torso"]["Conv_0"]["kernel"].shape == (3, 3, 4, 16)
    for batch in [(), (6,), (2, 3)]:
        obs = jax.random.uniform(jax.random.PRNGKey(1), batch + (10, 10, 4))
        dist, value = network.apply(params, obs)
        assert dist.logits.shape == batch + (6,)
        assert value.shape == batch
        np.testing.assert_allclose(network.apply(params, obs, method=ActorCritic.policy).logits, dist.logits)
        np.testing.assert_allclose(network.apply(params, obs, method=ActorCritic.value), value)


def _conv_reference(x, kernel, bias):
    """A 3x3 "SAME" cross-correlation, one output pixel at a time in NumPy."""
    batch, height, width, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((batch, height, width, kernel.shape[-1]))
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                window = padded[b, i:i + 3, j:j + 3, :]
                out[b, i, j] = np.einsum("hwc,hwco->o", window, kernel) + bias
    return out


def test_im2col_convolution_matches_a_plain_loop_and_flax_conv():
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 6, 3))
    params = Conv3x3(4).init(jax.random.PRNGKey(0), x)
    params = jax.tree.map(lambda p: p + 0.1, params)  # a non-zero bias
    got = np.asarray(Conv3x3(4).apply(params, x))
    kernel, bias = (np.asarray(params["params"][k], np.float64) for k in ("kernel", "bias"))
    np.testing.assert_allclose(got, _conv_reference(np.asarray(x, np.float64), kernel, bias), atol=1e-5)
    # Parameters are laid out as flax's, so a network saved with `nn.Conv` loads unchanged.
    import flax.linen as nn

    np.testing.assert_allclose(got, nn.Conv(4, (3, 3)).apply(params, x), atol=1e-5)


@pytest.mark.parametrize("torso, conv", [("auto", True), ("cnn", True), ("mlp", False)])
def test_torso_field_picks_the_cnn_or_a_flattening_mlp(torso, conv):
    from pgjax.envs import make_env
    from pgjax.networks import make_network

    config = ppo.Config(env="Breakout-MinAtar", torso=torso, hidden_sizes=(8,))
    network = make_network(config, *make_env(config.env))
    params = network.init(jax.random.PRNGKey(0), jnp.zeros((1, 10, 10, 4)))["params"]["actor_torso"]
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
    from pgjax.envs import make_env
    from pgjax.networks import make_network

    config = ppo.Config(env="Pendulum-v1", network=network, hidden_sizes=(8,), gru_size=8, log_std_init=0.5)
    built = make_network(config, *make_env(config.env))
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
    assert ppo.Config.for_env("MountainCarContinuous-v0").log_std_init == 0.5
