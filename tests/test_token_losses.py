"""Per-token pieces (pgjax.losses) against NumPy written here from the papers' formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.advantages import group_normalized_advantages
from pgjax.losses import AGGREGATIONS, aggregate, aggregation_scale, batch_normalized_advantages, clipped_surrogate_loss, kl_estimate, kl_in_reward, sequence_rewards_to_go

RNG = np.random.default_rng(7)
B, T = 5, 6


def completion_mask():
    """Completions of lengths 6, 4, 1, 3 and 0 tokens: mask 1 then 0."""
    lengths = np.array([6, 4, 1, 3, 0])
    return (np.arange(T)[None, :] < lengths[:, None]).astype(np.float32), lengths


# ---------------------------------------------------------------- KL estimators


def test_kl_estimators_match_their_formulas():
    log_p = RNG.normal(size=(B, T)).astype(np.float32)
    log_ref = RNG.normal(size=(B, T)).astype(np.float32)
    for estimator, expected in {
        "k1": log_p - log_ref,
        "k2": 0.5 * (log_p - log_ref) ** 2,
        # Schulman: r = π_ref/π_θ, k3 = (r − 1) − log r
        "k3": (np.exp(log_ref - log_p) - 1) - (log_ref - log_p),
    }.items():
        np.testing.assert_allclose(kl_estimate(log_p, log_ref, estimator), expected, rtol=1e-5, atol=1e-6)


def monte_carlo(p, q, estimator, samples=400_000, seed=0):
    """Mean and standard error of the estimator over tokens sampled from p, and the exact KL(p‖q)."""
    rng = np.random.default_rng(seed)
    tokens = rng.choice(len(p), size=samples, p=p)
    values = np.asarray(kl_estimate(jnp.log(p)[tokens], jnp.log(q)[tokens], estimator), np.float64)
    exact = float(np.sum(p * np.log(p / q)))
    return values.mean(), values.std() / np.sqrt(samples), exact


@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_k1_and_k3_are_unbiased(estimator):
    p = np.array([0.5, 0.2, 0.2, 0.1])
    q = np.array([0.1, 0.3, 0.2, 0.4])  # far from p: KL ≈ 0.58
    mean, error, exact = monte_carlo(p, q, estimator)
    assert abs(mean - exact) < 4 * error, (mean, exact, error)


def test_k2_is_close_only_when_the_policies_are():
    p = np.array([0.5, 0.2, 0.2, 0.1])
    far, near = np.array([0.1, 0.3, 0.2, 0.4]), np.array([0.48, 0.21, 0.2, 0.11])
    mean, error, exact = monte_carlo(p, far, "k2")
    assert abs(mean - exact) > 20 * error and abs(mean - exact) > 0.1 * exact  # biased
    mean, error, exact = monte_carlo(p, near, "k2")
    assert abs(mean - exact) < 0.05 * exact  # a second-order match near π_ref


def test_unknown_kl_estimator_is_refused():
    with pytest.raises(ValueError, match="kl_estimator: must be one of k1, k2, k3, got 'k4'"):
        kl_estimate(jnp.zeros(3), jnp.zeros(3), "k4")


def test_kl_in_reward_subtracts_the_scaled_kl_on_the_completion():
    mask, _ = completion_mask()
    rewards = RNG.normal(size=(B, T)).astype(np.float32)
    kl = RNG.normal(size=(B, T)).astype(np.float32)
    np.testing.assert_allclose(kl_in_reward(rewards, kl, 0.1, mask), (rewards - 0.1 * kl) * mask, rtol=1e-6)


# ---------------------------------------------------------------- aggregation


def reference_aggregate(values, mask, mode, max_len):
    lengths = mask.sum(axis=1)
    if mode == "token-mean":
        return sum(values[b, t] for b in range(B) for t in range(T) if mask[b, t]) / mask.sum()
    per_sequence = []
    for b in range(B):
        total = sum(values[b, t] for t in range(T) if mask[b, t])
        if mode == "seq-mean-token-mean":
            per_sequence.append(total / lengths[b] if lengths[b] else 0.0)
        elif mode == "seq-mean-token-sum":
            per_sequence.append(total)
        else:  # Dr. GRPO: a constant normaliser, the longest completion allowed
            per_sequence.append(total / max_len)
    return sum(per_sequence) / B


@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_aggregation_modes_match_their_formulas(mode):
    mask, _ = completion_mask()
    values = RNG.normal(size=(B, T)).astype(np.float32)
    max_len = 8
    np.testing.assert_allclose(aggregate(values, mask, mode, max_len), reference_aggregate(values, mask, mode, max_len),
                               rtol=1e-5)


@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_the_token_mean_of_the_scaled_values_is_the_aggregate(mode):
    mask, _ = completion_mask()
    values = RNG.normal(size=(B, T)).astype(np.float32)
    scale = np.asarray(aggregation_scale(mask, mode, 8))
    token_mean = (mask * scale * values).sum() / mask.sum()
    np.testing.assert_allclose(token_mean, reference_aggregate(values, mask, mode, 8), rtol=1e-5)
    if mode == "token-mean":
        assert np.all(scale == 1.0)  # exactly: the default leaves the existing algorithms' numbers alone


def test_the_modes_weigh_long_and_short_completions_differently():
    """One long and one short completion, every token's value 1: token-mean gives 1, seq-mean-
    token-sum the mean length, seq-mean-token-mean 1, sum-norm the mean length over T."""
    mask = np.array([[1, 1, 1, 1], [1, 0, 0, 0]], np.float32)
    values = np.ones_like(mask)
    got = {mode: float(aggregate(values, mask, mode)) for mode in AGGREGATIONS}
    assert got == pytest.approx({"token-mean": 1.0, "seq-mean-token-mean": 1.0, "seq-mean-token-sum": 2.5,
                                 "seq-mean-token-sum-norm": 2.5 / 4})


def test_unknown_aggregation_mode_is_refused():
    with pytest.raises(ValueError, match="loss_agg_mode: must be one of token-mean, .*got 'mean'"):
        aggregate(jnp.zeros((2, 3)), jnp.ones((2, 3)), "mean")


# ---------------------------------------------------------------- clipped surrogate, clip-higher


def test_asymmetric_clipped_surrogate_matches_a_loop():
    mask, _ = completion_mask()
    log_prob = RNG.normal(scale=0.3, size=(B, T)).astype(np.float32)
    old = RNG.normal(scale=0.3, size=(B, T)).astype(np.float32)
    adv = RNG.normal(size=(B, T)).astype(np.float32)
    low, high = 0.2, 0.28
    loss, aux = clipped_surrogate_loss(log_prob, old, adv, mask, low, high, mode="seq-mean-token-mean")
    objective = np.zeros((B, T))
    clipped_low = clipped_high = 0
    for b in range(B):
        for t in range(T):
            r = np.exp(log_prob[b, t] - old[b, t])
            objective[b, t] = min(r * adv[b, t], min(max(r, 1 - low), 1 + high) * adv[b, t])
            if mask[b, t]:
                clipped_low += r < 1 - low and adv[b, t] < 0
                clipped_high += r > 1 + high and adv[b, t] > 0
    np.testing.assert_allclose(loss, -reference_aggregate(objective, mask, "seq-mean-token-mean", T), rtol=1e-5)
    assert float(aux["clip_fraction_low"]) == pytest.approx(clipped_low / mask.sum())
    assert float(aux["clip_fraction_high"]) == pytest.approx(clipped_high / mask.sum())
    assert clipped_low + clipped_high > 0  # the case the test is about occurs


def test_clip_higher_lets_a_rising_ratio_go_further():
    """A positive advantage with r = 1.25: clipped at 1.2 by PPO, not by ε_high = 0.28."""
    log_prob, old, adv, mask = jnp.log(jnp.array([[1.25]])), jnp.zeros((1, 1)), jnp.ones((1, 1)), jnp.ones((1, 1))
    symmetric, _ = clipped_surrogate_loss(log_prob, old, adv, mask, 0.2)
    higher, aux = clipped_surrogate_loss(log_prob, old, adv, mask, 0.2, 0.28)
    assert float(symmetric) == pytest.approx(-1.2) and float(higher) == pytest.approx(-1.25)
    assert float(aux["clip_fraction_high"]) == 0.0


@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_tokens_after_the_end_get_zero_gradient(mode):
    mask, _ = completion_mask()
    old = RNG.normal(scale=0.3, size=(B, T)).astype(np.float32)
    adv = RNG.normal(size=(B, T)).astype(np.float32)
    ref = RNG.normal(size=(B, T)).astype(np.float32)

    def loss(log_prob):
        surrogate, _ = clipped_surrogate_loss(log_prob, old, adv, mask, 0.2, 0.28, mode=mode)
        return surrogate + 0.1 * aggregate(kl_estimate(log_prob, ref, "k3"), mask, mode)

    grad = np.asarray(jax.grad(loss)(jnp.asarray(old + 0.05)))
    assert np.all(grad[mask == 0] == 0.0)
    assert np.all(grad[mask == 1] != 0.0)


# ---------------------------------------------------------------- advantages without a critic


def test_rewards_to_go_match_a_loop():
    mask, lengths = completion_mask()
    rewards = RNG.normal(size=(B, T)).astype(np.float32)
    gamma = 0.9
    expected = np.zeros((B, T))
    for b in range(B):
        for t in range(lengths[b]):
            expected[b, t] = sum(gamma ** (s - t) * rewards[b, s] for s in range(t, lengths[b]))
    np.testing.assert_allclose(sequence_rewards_to_go(rewards, mask, gamma), expected, rtol=1e-5, atol=1e-6)


def test_reinforce_plus_plus_normalises_over_every_token_of_the_batch():
    mask, _ = completion_mask()
    returns = RNG.normal(size=(B, T)).astype(np.float32)
    tokens = returns[mask == 1]
    expected = np.where(mask == 1, (returns - tokens.mean()) / (tokens.std() + 1e-8), 0.0)
    np.testing.assert_allclose(batch_normalized_advantages(returns, mask), expected, rtol=1e-4, atol=1e-5)


def test_dr_grpo_keeps_the_centring_and_drops_the_std():
    returns = RNG.normal(size=(3, 4)).astype(np.float32)
    centred = returns - returns.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(group_normalized_advantages(returns, scale_by_std=False), centred, rtol=1e-6)
    np.testing.assert_allclose(group_normalized_advantages(returns), centred / (returns.std(axis=1, keepdims=True) + 1e-8),
                               rtol=1e-5)
