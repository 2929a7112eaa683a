"""Array layouts (`pgjax.layout`) against NumPy indexing: time-major `[T, N, ...]`, env-major
`[N, T, ...]`, and flattened transitions `[T·N, ...]`."""

import jax.numpy as jnp
import numpy as np

from pgjax.layout import flatten_time, swap_time


def tree(T=3, N=2):
    """Leaves whose entries name their own time step and environment: `[t, n, ...] = 10 t + n`."""
    index = 10 * np.arange(T)[:, None] + np.arange(N)[None, :]
    return {"reward": jnp.asarray(index), "obs": jnp.asarray(np.stack([index, -index], axis=-1))}


def test_swap_time_exchanges_time_and_environment_and_is_its_own_inverse():
    time_major = tree()
    env_major = swap_time(time_major)
    for t in range(3):
        for n in range(2):
            assert env_major["reward"][n, t] == 10 * t + n
            np.testing.assert_array_equal(env_major["obs"][n, t], [10 * t + n, -(10 * t + n)])
    for name in time_major:
        np.testing.assert_array_equal(swap_time(env_major)[name], time_major[name])


def test_flatten_time_lists_the_transitions_step_by_step():
    flat = flatten_time(tree())
    assert flat["reward"].shape == (6,) and flat["obs"].shape == (6, 2)
    # Row t·N + n is environment n at step t.
    np.testing.assert_array_equal(flat["reward"], [10 * t + n for t in range(3) for n in range(2)])
    np.testing.assert_array_equal(flat["obs"][:, 1], -flat["reward"])
