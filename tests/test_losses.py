"""Losses against their formulas in NumPy: values, gradients, and stopped gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.losses import clipped_surrogate_loss, entropy_bonus, importance_weighted_loss, kl_penalty, masked_mean, policy_gradient_loss, value_loss

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


def test_kl_penalty_and_entropy_bonus():
    kl = np.random.default_rng(2).uniform(0, 1, size=SHAPE).astype(np.float32)
    penalty, grad = jax.value_and_grad(kl_penalty)(kl, 0.3)
    np.testing.assert_allclose(penalty, 0.3 * np.mean(kl), rtol=1e-6)
    np.testing.assert_allclose(grad, np.full(SHAPE, 0.3 / kl.size), rtol=1e-6)
    # The coefficient may be traced and vmapped (adaptive-KL sweeps).
    coefs = jnp.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(
        jax.vmap(kl_penalty, in_axes=(None, 0))(kl, coefs), np.asarray(coefs) * np.mean(kl), rtol=1e-6
    )
    np.testing.assert_allclose(entropy_bonus(kl), -np.mean(kl), rtol=1e-6)


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
    entropy = -old_log_prob
    np.testing.assert_allclose(entropy_bonus(entropy, mask), -weighted(entropy, mask), rtol=1e-5)
    np.testing.assert_allclose(kl_penalty(entropy, 0.3, mask), 0.3 * weighted(entropy, mask), rtol=1e-5)


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
