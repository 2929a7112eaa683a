"""Array layouts shared by rollouts, networks and learning.

Rollouts are time-major, `[T, N, ...]`; learning on whole environment sequences reads them
env-major, `[N, T, ...]`; learning on single transitions flattens `[T·N, ...]`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def swap_time(tree):
    """`[T, N, ...] <-> [N, T, ...]` for every leaf."""
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)


def flatten_time(tree):
    """`[T, N, ...] -> [T·N, ...]` for every leaf."""
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), tree)
