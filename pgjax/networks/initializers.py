"""Initialisers of the PPO literature: orthogonal weights (Saxe et al., 2014), zero biases."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def _orthonormal_columns(matrix: jax.Array) -> jax.Array:
    """Gram–Schmidt (each column orthogonalised twice, which is enough in floating point)."""
    num_cols = matrix.shape[1]

    def add_column(j, basis):
        column = matrix[:, j]
        for _ in range(2):
            column = column - basis @ (basis.T @ column)
        return basis.at[:, j].set(column / jnp.linalg.norm(column))

    return jax.lax.fori_loop(0, num_cols, add_column, jnp.zeros_like(matrix))


def orthogonal(scale: float = 1.0):
    """Orthogonal initialiser (Saxe et al., 2014) built from matrix products only.

    Equivalent in distribution to `flax.linen.initializers.orthogonal` (the Q of a
    Gaussian matrix with R's diagonal made positive), but without LAPACK's QR,
    whose batched CPU kernel can deadlock when `init` is vmapped over seeds on a
    machine with few cores.
    """

    def init(key, shape, dtype=jnp.float32):
        num_rows, num_cols = math.prod(shape[:-1]), shape[-1]
        tall = (max(num_rows, num_cols), min(num_rows, num_cols))
        q = _orthonormal_columns(jax.random.normal(key, tall, jnp.float32))
        if num_rows < num_cols:
            q = q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


def dense(features: int, scale: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(scale), bias_init=nn.initializers.zeros)
