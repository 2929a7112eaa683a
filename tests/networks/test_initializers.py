"""The LAPACK-free orthogonal initialiser against the properties of an orthogonal matrix."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.networks import orthogonal


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
