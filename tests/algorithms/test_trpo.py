"""TRPO beyond the protocol (tests/algorithms/test_protocol.py): every update stays inside the
trust region, and a rejected step leaves the policy alone."""

import jax
import numpy as np
import pytest

from pgjax import trpo


def test_updates_stay_inside_the_trust_region(tiny):
    max_kl = 0.005
    config = tiny("trpo", max_kl=max_kl)  # max_kl is traced: the protocol test's program
    _, metrics = jax.jit(trpo.train)(config, jax.random.key(0))
    accepted = metrics["step_fraction"] > 0
    assert accepted.any()
    assert np.all(metrics["kl"] <= max_kl * (1 + 1e-5)), metrics["kl"]
    assert np.all(metrics["surrogate_improvement"][accepted] > 0)
    np.testing.assert_array_equal(metrics["kl"][~accepted], 0.0)  # a rejected step leaves the policy alone
    # Fractions come from the backtracking schedule 0.5^k.
    exponents = -np.log2(metrics["step_fraction"][accepted])
    np.testing.assert_allclose(exponents, np.round(exponents), atol=1e-5)


def test_a_recurrent_network_is_refused():
    with pytest.raises(ValueError, match="network: 'gru' is recurrent, which trpo does not support"):
        trpo.Config.for_env("CartPole-positions-v1", network="gru")
