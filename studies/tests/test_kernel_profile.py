"""The FLOP counting of `studies.kernel_profile` (used by `kernel_profile.md` and
`arithmetic_limit.md`), checked against counts worked out by hand for a small compiled loop."""

import jax
import jax.numpy as jnp

from studies import kernel_profile

TRIPS, M, K, N = 7, 8, 16, 4


def test_flops_follow_loop_trip_counts_and_matmuls_are_counted_apart():
    def program(x, w):
        def body(_, y):
            # The matmul reads the carry, so XLA cannot hoist it out of the loop.
            return jnp.tanh((x @ (w * y[0, 0])) * y)

        return jax.lax.fori_loop(0, TRIPS, body, jnp.ones((M, N)))

    analysis = kernel_profile.analyse(jax.jit(program).lower(jnp.ones((M, K)), jnp.ones((K, N))).compile().as_text())
    assert analysis.unknown_trips == 0 and analysis.executed["library"] == TRIPS  # one matmul call per trip
    assert analysis.matmul_flops == TRIPS * 2 * M * N * K
    # Per trip: K·N multiplies for w · y[0, 0], M·N for the product with y, one add for the loop counter.
    assert analysis.flops - analysis.matmul_flops == TRIPS * (K * N + M * N + 1)
    assert analysis.transcendentals == TRIPS * M * N  # tanh, once per element and trip
