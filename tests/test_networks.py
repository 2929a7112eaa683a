"""The LAPACK-free orthogonal initialiser and ActorCritic's output shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.distributions import Categorical, DiagGaussian
from pgjax.networks import ActorCritic, orthogonal


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
