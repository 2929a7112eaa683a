"""Losses against their formulas in NumPy: values, gradients, and stopped gradients; under
masks; and the token-level pieces (KL estimators, aggregation modes, clip statistics), each
against a plain loop written here from its docstring."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.losses import (
    AGGREGATIONS,
    KL_ESTIMATORS,
    aggregation_scale,
    clip_statistics,
    clipped_surrogate_loss,
    clipped_surrogate_objective,
    importance_weighted_loss,
    kl_estimate,
    kl_penalty,
    masked_mean,
    policy_gradient_loss,
    value_loss,
)

SHAPE = (6, 5)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    old_log_prob = rng.normal(-1.0, 0.5, size=SHAPE).astype(np.float32)
    # Ratios spread well beyond [1 − ε, 1 + ε] on both sides, with either sign of advantage.
    log_prob = (old_log_prob + rng.uniform(-0.6, 0.6, size=SHAPE)).astype(np.float32)
    advantages = rng.normal(size=SHAPE).astype(np.float32)
    return log_prob, old_log_prob, advantages


def numpy_surrogate(log_prob, old_log_prob, advantages, eps):
    ratio = np.exp(log_prob.astype(np.float64) - old_log_prob)
    loss = -np.mean(np.minimum(ratio * advantages, np.clip(ratio, 1 - eps, 1 + eps) * advantages))
    # The clipped objective is flat (no gradient) where it clips in the direction the
    # advantage pushes: r > 1 + ε with A > 0, or r < 1 − ε with A < 0.
    flat = ((ratio > 1 + eps) & (advantages > 0)) | ((ratio < 1 - eps) & (advantages < 0))
    grad_log_prob = np.where(flat, 0.0, -ratio * advantages / ratio.size)
    approx_kl = np.mean((ratio - 1) - np.log(ratio))
    clip_fraction = np.mean(np.abs(ratio - 1) > eps)
    return loss, grad_log_prob, approx_kl, clip_fraction


@pytest.mark.parametrize("eps", [0.1, 0.2, 0.3])
def test_clipped_surrogate_value_gradient_and_aux(batch, eps):
    log_prob, old_log_prob, advantages = batch
    loss_and_grad = jax.jit(jax.value_and_grad(clipped_surrogate_loss, has_aux=True))
    (loss, aux), grad = loss_and_grad(log_prob, old_log_prob, advantages, eps)
    expected_loss, expected_grad, expected_kl, expected_fraction = numpy_surrogate(
        log_prob, old_log_prob, advantages, eps
    )
    # The data really exercise both the clipped and the unclipped branch.
    assert 0.0 < np.mean(expected_grad == 0.0) < 1.0
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(aux["approx_kl"], expected_kl, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(aux["clip_fraction"], expected_fraction, rtol=1e-6)


def test_clipped_surrogate_gradient_matches_finite_differences(batch):
    log_prob, old_log_prob, advantages = batch
    eps, step = 0.2, 1e-3
    loss = lambda lp: clipped_surrogate_loss(lp, old_log_prob, advantages, eps)[0]  # noqa: E731
    grad = np.asarray(jax.grad(loss)(jnp.asarray(log_prob)))
    for index in [(0, 0), (2, 3), (5, 4), (3, 1)]:
        bump = np.zeros(SHAPE, np.float32)
        bump[index] = step
        numeric = (float(loss(log_prob + bump)) - float(loss(log_prob - bump))) / (2 * step)
        np.testing.assert_allclose(grad[index], numeric, rtol=2e-2, atol=2e-4)


def test_clipped_surrogate_stops_gradient_through_advantages_and_old_log_prob(batch):
    log_prob, old_log_prob, advantages = batch
    grad_old, grad_adv = jax.grad(lambda old, adv: clipped_surrogate_loss(log_prob, old, adv, 0.2)[0], argnums=(0, 1))(
        old_log_prob, advantages
    )
    np.testing.assert_array_equal(grad_old, np.zeros(SHAPE))
    np.testing.assert_array_equal(grad_adv, np.zeros(SHAPE))
    # The diagnostics are not differentiated either.
    for name in ("approx_kl", "clip_fraction"):
        grad_aux = jax.grad(lambda lp: clipped_surrogate_loss(lp, old_log_prob, advantages, 0.2)[1][name])(log_prob)
        np.testing.assert_array_equal(grad_aux, np.zeros(SHAPE))


def test_clipped_surrogate_vmaps_over_clip_eps(batch):
    log_prob, old_log_prob, advantages = batch
    eps = jnp.array([0.05, 0.2, 0.5])
    per_eps = jax.vmap(clipped_surrogate_loss, in_axes=(None, None, None, 0))
    losses, aux = per_eps(log_prob, old_log_prob, advantages, eps)
    for i, e in enumerate(np.asarray(eps)):
        expected_loss, _, _, expected_fraction = numpy_surrogate(log_prob, old_log_prob, advantages, float(e))
        np.testing.assert_allclose(losses[i], expected_loss, rtol=1e-5)
        np.testing.assert_allclose(aux["clip_fraction"][i], expected_fraction, rtol=1e-6)


def test_clipped_surrogate_equals_policy_gradient_on_policy(batch):
    """At r = 1 (first epoch) the clipped loss has the vanilla policy-gradient gradient."""
    _, old_log_prob, advantages = batch
    grad_clipped = jax.grad(lambda lp: clipped_surrogate_loss(lp, old_log_prob, advantages, 0.2)[0])(old_log_prob)
    grad_vanilla = jax.grad(policy_gradient_loss)(old_log_prob, advantages)
    np.testing.assert_allclose(grad_clipped, grad_vanilla, rtol=1e-6)
    _, aux = clipped_surrogate_loss(old_log_prob, old_log_prob, advantages, 0.2)
    assert float(aux["approx_kl"]) == 0.0
    assert float(aux["clip_fraction"]) == 0.0


def test_policy_gradient_loss(batch):
    log_prob, _, advantages = batch
    loss, (grad_log_prob, grad_adv) = jax.value_and_grad(policy_gradient_loss, argnums=(0, 1))(log_prob, advantages)
    np.testing.assert_allclose(loss, -np.mean(log_prob.astype(np.float64) * advantages), rtol=1e-5)
    np.testing.assert_allclose(grad_log_prob, -advantages / advantages.size, rtol=1e-6)
    np.testing.assert_array_equal(grad_adv, np.zeros(SHAPE))


def test_importance_weighted_loss(batch):
    log_prob, old_log_prob, advantages = batch
    ratio = np.exp(log_prob.astype(np.float64) - old_log_prob)
    (loss, aux), grads = jax.value_and_grad(importance_weighted_loss, argnums=(0, 1, 2), has_aux=True)(
        log_prob, old_log_prob, advantages
    )
    np.testing.assert_allclose(loss, -np.mean(ratio * advantages), rtol=1e-5)
    np.testing.assert_allclose(aux["approx_kl"], np.mean((ratio - 1) - np.log(ratio)), rtol=1e-4)
    np.testing.assert_allclose(grads[0], -ratio * advantages / ratio.size, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(grads[1], np.zeros(SHAPE))
    np.testing.assert_array_equal(grads[2], np.zeros(SHAPE))


@pytest.fixture
def critic_batch():
    rng = np.random.default_rng(1)
    old_values = rng.normal(size=SHAPE).astype(np.float32)
    values = (old_values + rng.uniform(-0.5, 0.5, size=SHAPE)).astype(np.float32)
    targets = rng.normal(size=SHAPE).astype(np.float32)
    return values, targets, old_values


def test_value_loss_unclipped(critic_batch):
    values, targets, _ = critic_batch
    loss, (grad_values, grad_targets) = jax.value_and_grad(value_loss, argnums=(0, 1))(values, targets)
    np.testing.assert_allclose(loss, 0.5 * np.mean((values.astype(np.float64) - targets) ** 2), rtol=1e-5)
    np.testing.assert_allclose(grad_values, (values - targets) / values.size, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(grad_targets, np.zeros(SHAPE))


def test_value_loss_clipped(critic_batch):
    values, targets, old_values = critic_batch
    eps = 0.2
    loss, grads = jax.value_and_grad(value_loss, argnums=(0, 1, 2))(values, targets, old_values, eps)

    clipped_values = old_values + np.clip(values - old_values, -eps, eps)
    unclipped_error = (values.astype(np.float64) - targets) ** 2
    clipped_error = (clipped_values.astype(np.float64) - targets) ** 2
    np.testing.assert_allclose(loss, 0.5 * np.mean(np.maximum(unclipped_error, clipped_error)), rtol=1e-5)
    # The gradient vanishes exactly where the clipped error is the larger one and V is clipped.
    frozen = (clipped_error > unclipped_error) & (np.abs(values - old_values) > eps)
    assert 0 < frozen.sum() < frozen.size
    expected_grad = np.where(frozen, 0.0, (values - targets) / values.size)
    np.testing.assert_allclose(grads[0], expected_grad, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(grads[1], np.zeros(SHAPE))
    np.testing.assert_array_equal(grads[2], np.zeros(SHAPE))
    # A clip range wider than every change is the unclipped loss.
    np.testing.assert_allclose(value_loss(values, targets, old_values, 10.0), value_loss(values, targets), rtol=1e-6)


def test_kl_penalty():
    kl = np.random.default_rng(2).uniform(0, 1, size=SHAPE).astype(np.float32)
    penalty, grad = jax.value_and_grad(kl_penalty)(kl, 0.3)
    np.testing.assert_allclose(penalty, 0.3 * np.mean(kl), rtol=1e-6)
    np.testing.assert_allclose(grad, np.full(SHAPE, 0.3 / kl.size), rtol=1e-6)
    # The coefficient may be traced and vmapped (adaptive-KL sweeps).
    coefs = jnp.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(
        jax.vmap(kl_penalty, in_axes=(None, 0))(kl, coefs), np.asarray(coefs) * np.mean(kl), rtol=1e-6
    )


# ---------------------------------------------------------------- masks


@pytest.fixture
def mask():
    """Padding at the ends of some rows (as after an episode or a sequence ends), and a
    fractional weight, so a mean over all entries is wrong everywhere."""
    mask = np.ones(SHAPE, np.float32)
    mask[0, 2:] = 0.0
    mask[3, 4:] = 0.0
    mask[5, 1:] = 0.0
    mask[1, 1] = 0.5
    return mask


def weighted(x, m):
    """Σ m·x / Σ m by a plain loop."""
    total = weight = 0.0
    for value, w in zip(np.ravel(x), np.ravel(m)):
        total += float(w) * float(value)
        weight += float(w)
    return total / weight


def test_masked_clipped_surrogate_and_its_metrics_ignore_masked_entries(batch, mask):
    log_prob, old_log_prob, advantages = batch
    eps = 0.2
    # Garbage where the mask is zero must not matter at all.
    garbage = np.where(mask > 0, log_prob, 50.0).astype(np.float32)
    loss, aux = jax.jit(clipped_surrogate_loss)(garbage, old_log_prob, advantages, eps, mask)
    ratio = np.exp(log_prob.astype(np.float64) - old_log_prob)
    surrogate = np.minimum(ratio * advantages, np.clip(ratio, 1 - eps, 1 + eps) * advantages)
    np.testing.assert_allclose(loss, -weighted(surrogate, mask), rtol=1e-5)
    np.testing.assert_allclose(aux["approx_kl"], weighted((ratio - 1) - np.log(ratio), mask), rtol=1e-4)
    np.testing.assert_allclose(aux["clip_fraction"], weighted(np.abs(ratio - 1) > eps, mask), rtol=1e-6)
    # The gradient reaches exactly the unmasked entries, each in proportion to its weight.
    grad = jax.grad(lambda lp: clipped_surrogate_loss(lp, old_log_prob, advantages, eps, mask)[0])(garbage)
    flat = ((ratio > 1 + eps) & (advantages > 0)) | ((ratio < 1 - eps) & (advantages < 0))
    expected = np.where(flat, 0.0, -ratio * advantages) * mask / mask.sum()
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-7)


def test_masked_policy_gradient_importance_weighted_and_value_losses(batch, mask):
    log_prob, old_log_prob, advantages = batch
    np.testing.assert_allclose(
        policy_gradient_loss(log_prob, advantages, mask), -weighted(log_prob * advantages, mask), rtol=1e-5
    )
    loss, aux = importance_weighted_loss(log_prob, old_log_prob, advantages, mask)
    ratio = np.exp(log_prob.astype(np.float64) - old_log_prob)
    np.testing.assert_allclose(loss, -weighted(ratio * advantages, mask), rtol=1e-5)
    np.testing.assert_allclose(aux["approx_kl"], weighted((ratio - 1) - np.log(ratio), mask), rtol=1e-4)
    values, targets, old_values = log_prob, advantages, old_log_prob
    np.testing.assert_allclose(value_loss(values, targets, mask=mask), 0.5 * weighted((values - targets) ** 2, mask), rtol=1e-5)
    clipped = old_values + np.clip(values - old_values, -0.1, 0.1)
    expected = 0.5 * weighted(np.maximum((values - targets) ** 2, (clipped - targets) ** 2), mask)
    np.testing.assert_allclose(value_loss(values, targets, old_values, 0.1, mask), expected, rtol=1e-5)
    kl = -old_log_prob
    np.testing.assert_allclose(kl_penalty(kl, 0.3, mask), 0.3 * weighted(kl, mask), rtol=1e-5)


def test_a_mask_of_ones_is_the_plain_mean_and_an_empty_mask_gives_zero(batch):
    log_prob, old_log_prob, advantages = batch
    ones = np.ones(SHAPE, np.float32)
    np.testing.assert_allclose(
        clipped_surrogate_loss(log_prob, old_log_prob, advantages, 0.2, ones)[0],
        clipped_surrogate_loss(log_prob, old_log_prob, advantages, 0.2)[0], rtol=1e-6,
    )
    assert float(masked_mean(jnp.asarray(log_prob), jnp.zeros(SHAPE))) == 0.0
    with pytest.raises(AssertionError):
        masked_mean(jnp.asarray(log_prob), jnp.ones((2, 2)))


# ---------------------------------------------------------------- token-level pieces

B, T = 5, 6
TOKEN_RNG = np.random.default_rng(7)


def completion_mask():
    """Completions of lengths 6, 4, 1, 3 and 0 tokens: mask 1 then 0, `[B, T]`."""
    lengths = np.array([6, 4, 1, 3, 0])
    return (np.arange(T)[None, :] < lengths[:, None]).astype(np.float32), lengths


def test_the_kl_estimators_and_aggregation_modes_are_the_documented_ones():
    assert KL_ESTIMATORS == ("k1", "k2", "k3")
    assert re.findall(r"^ +(k\d) = ", kl_estimate.__doc__, re.M) == list(KL_ESTIMATORS)
    documented = re.findall(r"^ +((?:token|seq)-[a-z-]+) +", aggregation_scale.__doc__, re.M)
    assert documented == list(AGGREGATIONS) == ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                                                "seq-mean-token-sum-norm"]


def loop_kl(log_p, log_ref, estimator):
    """kl_estimate's docstring, one token at a time: log ρ = log π_θ − log π_ref; k1 = log ρ,
    k2 = ½ (log ρ)², k3 = (1/ρ − 1) + log ρ."""
    out = np.zeros(log_p.shape)
    for index in np.ndindex(log_p.shape):
        log_rho = float(log_p[index]) - float(log_ref[index])
        out[index] = {"k1": log_rho, "k2": 0.5 * log_rho**2, "k3": (1 / math.exp(log_rho) - 1) + log_rho}[estimator]
    return out


@pytest.mark.parametrize("estimator", KL_ESTIMATORS)
def test_kl_estimators_match_their_formulas_and_differentiate_only_the_policy(estimator):
    log_p = TOKEN_RNG.normal(size=(B, T)).astype(np.float32)
    log_ref = TOKEN_RNG.normal(size=(B, T)).astype(np.float32)
    np.testing.assert_allclose(kl_estimate(log_p, log_ref, estimator), loop_kl(log_p, log_ref, estimator),
                               rtol=1e-5, atol=1e-6)
    grad_p, grad_ref = jax.grad(lambda p, r: kl_estimate(p, r, estimator).sum(), argnums=(0, 1))(log_p, log_ref)
    np.testing.assert_array_equal(grad_ref, np.zeros((B, T)))  # π_ref is frozen
    step = 1e-3  # d/d log π of each token's estimate, by central differences of the loop
    numeric = (loop_kl(log_p.astype(np.float64) + step, log_ref, estimator)
               - loop_kl(log_p.astype(np.float64) - step, log_ref, estimator)) / (2 * step)
    np.testing.assert_allclose(grad_p, numeric, rtol=1e-3, atol=1e-4)


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


def loop_aggregate(values, mask, mode, max_len):
    """The aggregation `mode` of per-token `values` `[B, T]` over the completions in `mask`, as
    aggregation_scale's docstring defines it (L_b the length of completion b)."""
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


def loop_scale(mask, mode, max_len):
    """The factor s of each token, from the docstring's table (L̄ the mean length)."""
    mean_length = mask.sum() / mask.shape[0]
    scale = np.zeros(mask.shape)
    for b, t in np.ndindex(mask.shape):
        length = mask[b].sum()
        scale[b, t] = {"token-mean": 1.0, "seq-mean-token-mean": mean_length / max(length, 1.0),
                       "seq-mean-token-sum": mean_length, "seq-mean-token-sum-norm": mean_length / max_len}[mode]
    return scale


@pytest.mark.parametrize("mode", AGGREGATIONS)
@pytest.mark.parametrize("max_len", [None, 8])
def test_the_token_mean_of_the_scaled_values_is_the_aggregate(mode, max_len):
    mask, _ = completion_mask()
    values = TOKEN_RNG.normal(size=(B, T)).astype(np.float32)
    scale = np.asarray(aggregation_scale(mask, mode, max_len))
    np.testing.assert_allclose(scale, loop_scale(mask, mode, max_len or T), rtol=1e-6)
    token_mean = (mask * scale * values).sum() / mask.sum()
    np.testing.assert_allclose(token_mean, loop_aggregate(values, mask, mode, max_len or T), rtol=1e-5)
    # So a loss's mean under the mask, of the scaled per-token terms, is the aggregate.
    np.testing.assert_allclose(masked_mean(jnp.asarray(scale * values), mask),
                               loop_aggregate(values, mask, mode, max_len or T), rtol=1e-5)
    if mode == "token-mean":
        assert np.all(scale == 1.0)  # exactly: the default leaves the existing algorithms' numbers alone


def test_the_modes_weigh_long_and_short_completions_differently():
    """One long and one short completion, every token's value 1: token-mean gives 1, seq-mean-
    token-sum the mean length, seq-mean-token-mean 1, sum-norm the mean length over T."""
    mask = np.array([[1, 1, 1, 1], [1, 0, 0, 0]], np.float32)
    got = {mode: float((mask * aggregation_scale(mask, mode)).sum() / mask.sum()) for mode in AGGREGATIONS}
    assert got == pytest.approx({"token-mean": 1.0, "seq-mean-token-mean": 1.0, "seq-mean-token-sum": 2.5,
                                 "seq-mean-token-sum-norm": 2.5 / 4})


def test_unknown_aggregation_mode_and_bad_max_len_are_refused():
    with pytest.raises(ValueError, match="loss_agg_mode: must be one of token-mean, .*got 'mean'"):
        aggregation_scale(jnp.ones((2, 3)), "mean")
    with pytest.raises(ValueError, match="max_len: must be > 0"):
        aggregation_scale(jnp.ones((2, 3)), "seq-mean-token-sum-norm", 0)


def loop_clip_statistics(log_prob, old, adv, mask, low, high):
    """clip_statistics' docstring, token by token: means under `mask` of (r − 1) − log r, of r
    outside [1 − ε_low, 1 + ε_high], of r < 1 − ε_low with A < 0 and of r > 1 + ε_high with A > 0."""
    sums = dict(approx_kl=0.0, clip_fraction=0.0, clip_fraction_low=0.0, clip_fraction_high=0.0)
    for index in np.ndindex(mask.shape):
        log_ratio = float(log_prob[index]) - float(old[index])
        r, m = math.exp(log_ratio), float(mask[index])
        sums["approx_kl"] += m * ((r - 1) - log_ratio)
        sums["clip_fraction"] += m * (r < 1 - low or r > 1 + high)
        sums["clip_fraction_low"] += m * (r < 1 - low and adv[index] < 0)
        sums["clip_fraction_high"] += m * (r > 1 + high and adv[index] > 0)
    return {name: total / mask.sum() for name, total in sums.items()}


def test_the_asymmetric_surrogate_and_its_clip_statistics_match_a_loop():
    mask, _ = completion_mask()
    log_prob = TOKEN_RNG.normal(scale=0.3, size=(B, T)).astype(np.float32)
    old = TOKEN_RNG.normal(scale=0.3, size=(B, T)).astype(np.float32)
    adv = TOKEN_RNG.normal(size=(B, T)).astype(np.float32)
    low, high = 0.2, 0.28
    objective, log_ratio = clipped_surrogate_objective(log_prob, old, adv, low, high)
    expected = np.zeros((B, T))
    for b, t in np.ndindex(B, T):
        r = math.exp(float(log_prob[b, t]) - float(old[b, t]))
        expected[b, t] = min(r * adv[b, t], min(max(r, 1 - low), 1 + high) * adv[b, t])
    np.testing.assert_allclose(objective, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_ratio, log_prob - old, rtol=1e-6)

    statistics = clip_statistics(log_ratio, adv, low, high, mask)
    reference = loop_clip_statistics(log_prob, old, adv, mask, low, high)
    assert set(statistics) == set(reference)
    for name, value in reference.items():
        np.testing.assert_allclose(statistics[name], value, rtol=1e-5, atol=1e-7, err_msg=name)
    assert reference["clip_fraction_low"] > 0 and reference["clip_fraction_high"] > 0  # both cases occur
    # Not differentiated: diagnostics only.
    for name in reference:
        grad = jax.grad(lambda lr: clip_statistics(lr, adv, low, high, mask)[name])(log_ratio)
        np.testing.assert_array_equal(grad, np.zeros((B, T)))


def test_clip_higher_lets_a_rising_ratio_go_further():
    """A positive advantage with r = 1.25: clipped at 1.2 by PPO, not by ε_high = 0.28."""
    log_prob, old, adv = jnp.log(jnp.array([[1.25]])), jnp.zeros((1, 1)), jnp.ones((1, 1))
    symmetric, log_ratio = clipped_surrogate_objective(log_prob, old, adv, 0.2, 0.2)
    higher, _ = clipped_surrogate_objective(log_prob, old, adv, 0.2, 0.28)
    assert float(symmetric[0, 0]) == pytest.approx(1.2) and float(higher[0, 0]) == pytest.approx(1.25)
    assert float(clip_statistics(log_ratio, adv, 0.2, 0.28, None)["clip_fraction_high"]) == 0.0
    assert float(clip_statistics(log_ratio, adv, 0.2, 0.2, None)["clip_fraction_high"]) == 1.0


@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_tokens_after_the_end_get_zero_gradient(mode):
    """The surrogate and a k3 penalty, scaled by the aggregation, under the mask."""
    mask, _ = completion_mask()
    old = TOKEN_RNG.normal(scale=0.3, size=(B, T)).astype(np.float32)
    adv = TOKEN_RNG.normal(size=(B, T)).astype(np.float32)
    ref = TOKEN_RNG.normal(size=(B, T)).astype(np.float32)
    scale = aggregation_scale(mask, mode)

    def loss(log_prob):
        objective, _ = clipped_surrogate_objective(log_prob, old, adv, 0.2, 0.28)
        return -masked_mean(scale * objective, mask) + 0.1 * masked_mean(scale * kl_estimate(log_prob, ref, "k3"), mask)

    grad = np.asarray(jax.grad(loss)(jnp.asarray(old + 0.05)))
    assert np.all(grad[mask == 0] == 0.0)
    assert np.all(grad[mask == 1] != 0.0)

