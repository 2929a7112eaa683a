"""PPO with an adaptive KL penalty beyond the protocol (tests/algorithms/test_protocol.py): the
coefficient β follows Schulman et al.'s rule, iteration by iteration."""

import jax
import jax.numpy as jnp
import numpy as np

from pgjax import ppo_kl


def test_the_kl_coefficient_follows_the_adaptive_rule(tiny, train_per_value):
    """β doubles after an iteration whose KL exceeded 1.5 · target_kl and halves after one below
    target_kl / 1.5. Two runs, one starting with a negligible penalty (its policy moves: β rises)
    and one with a crushing one (its policy stays: β falls); the protocol test's program."""
    target_kl, initial = 0.002, [1e-3, 100.0]
    config = tiny("ppo_kl", learning_rate=1e-2, target_kl=target_kl)
    states, metrics = train_per_value(ppo_kl, config, "init_kl_coef", jnp.array(initial), jax.random.key(3))
    moved = {"up": 0, "down": 0}
    for run, beta in enumerate(initial):
        for kl, reported in zip(metrics["kl"][run], metrics["kl_coef"][run]):
            if kl > 1.5 * target_kl:
                beta, moved["up"] = beta * 2, moved["up"] + 1
            elif kl < target_kl / 1.5:
                beta, moved["down"] = beta / 2, moved["down"] + 1
            np.testing.assert_allclose(reported, beta, rtol=1e-6)
        assert states.kl_coef[run] == metrics["kl_coef"][run, -1]
    assert moved["up"] > 0 and moved["down"] > 0, moved  # both branches of the rule were exercised
