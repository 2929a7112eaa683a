"""The im2col convolution against a loop and flax's, and ActorCritic's output shapes and torsos."""

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.distributions import Categorical, DiagGaussian
from pgjax.networks import ActorCritic, Conv3x3


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
    assert params["params"]["log_std"]["log_std"].shape == (3,)


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
