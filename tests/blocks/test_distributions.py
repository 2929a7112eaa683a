"""Categorical and DiagGaussian against closed forms in NumPy/SciPy and sample statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from pgjax.distributions import Categorical, DiagGaussian

B, NUM_ACTIONS, D = 5, 4, 3


def numpy_log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


@pytest.fixture
def logits():
    return np.random.default_rng(0).normal(scale=2.0, size=(B, NUM_ACTIONS)).astype(np.float32)


@pytest.fixture
def gaussian_params():
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(B, D)).astype(np.float32)
    log_std = rng.uniform(-1.0, 0.7, size=(B, D)).astype(np.float32)
    return mean, log_std


# ---------------------------------------------------------------- categorical


def test_categorical_log_prob_entropy_kl_mode(logits):
    probs = np.exp(numpy_log_softmax(logits.astype(np.float64)))
    dist = Categorical(jnp.asarray(logits))
    actions = np.array([0, 3, 1, 2, 3])

    expected_log_prob = np.log([probs[i, a] for i, a in enumerate(actions)])
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(actions)), expected_log_prob, rtol=1e-5, atol=1e-6)

    expected_entropy = [-sum(p * np.log(p) for p in row) for row in probs]
    np.testing.assert_allclose(dist.entropy(), expected_entropy, rtol=1e-5)

    other_logits = np.random.default_rng(2).normal(size=logits.shape).astype(np.float32)
    other_probs = np.exp(numpy_log_softmax(other_logits.astype(np.float64)))
    expected_kl = [
        sum(p * (np.log(p) - np.log(q)) for p, q in zip(row, other_row))
        for row, other_row in zip(probs, other_probs)
    ]
    np.testing.assert_allclose(dist.kl(Categorical(jnp.asarray(other_logits))), expected_kl, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dist.kl(dist), np.zeros(B), atol=1e-6)

    np.testing.assert_array_equal(dist.mode(), np.argmax(probs, axis=-1))


def test_categorical_log_prob_accepts_float_actions_and_extra_batch_axes():
    logits = np.random.default_rng(3).normal(size=(2, 3, NUM_ACTIONS)).astype(np.float32)
    actions = np.array([[0, 1, 2], [3, 3, 0]])
    expected = np.take_along_axis(numpy_log_softmax(logits), actions[..., None], axis=-1)[..., 0]
    dist = Categorical(jnp.asarray(logits))
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(actions, jnp.float32)), expected, rtol=1e-5, atol=1e-6)
    assert dist.entropy().shape == (2, 3)
    assert dist.mode().shape == (2, 3)


def test_categorical_sample_frequencies(logits):
    num_samples = 40_000
    probs = np.exp(numpy_log_softmax(logits.astype(np.float64)))
    dist = Categorical(jnp.broadcast_to(jnp.asarray(logits), (num_samples, B, NUM_ACTIONS)))
    samples = np.asarray(jax.jit(Categorical.sample)(dist, jax.random.PRNGKey(0)))
    assert samples.shape == (num_samples, B)
    frequencies = np.stack([np.mean(samples == a, axis=0) for a in range(NUM_ACTIONS)], axis=-1)
    # 5 standard errors of a frequency estimated from 40k samples.
    tolerance = 5 * np.sqrt(probs * (1 - probs) / num_samples) + 1e-3
    assert np.all(np.abs(frequencies - probs) < tolerance), (frequencies, probs)


# ---------------------------------------------------------------- diagonal Gaussian


def test_gaussian_log_prob_and_entropy_match_scipy(gaussian_params):
    mean, log_std = gaussian_params
    std = np.exp(log_std.astype(np.float64))
    actions = np.random.default_rng(4).normal(size=(B, D)).astype(np.float32) * 2.0
    dist = DiagGaussian(jnp.asarray(mean), jnp.asarray(log_std))

    log_prob = np.asarray(dist.log_prob(jnp.asarray(actions)))
    entropy = np.asarray(dist.entropy())
    for i in range(B):
        mvn = stats.multivariate_normal(mean[i].astype(np.float64), np.diag(std[i] ** 2))
        np.testing.assert_allclose(log_prob[i], mvn.logpdf(actions[i].astype(np.float64)), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(entropy[i], mvn.entropy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        log_prob, stats.norm.logpdf(actions, mean, std).sum(axis=-1), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(entropy, stats.norm.entropy(mean, std).sum(axis=-1), rtol=1e-5, atol=1e-5)


def test_gaussian_state_independent_log_std_broadcasts():
    """A learned log std of shape `[d]` serves a whole batch of means `[B, d]`."""
    mean = np.random.default_rng(5).normal(size=(B, D)).astype(np.float32)
    log_std = np.array([-0.5, 0.0, 0.3], np.float32)
    dist = DiagGaussian(jnp.asarray(mean), jnp.asarray(log_std))
    expected = stats.norm.entropy(mean, np.exp(log_std)).sum(axis=-1)
    np.testing.assert_allclose(dist.entropy(), expected, rtol=1e-5)
    actions = mean + 0.5
    np.testing.assert_allclose(
        dist.log_prob(jnp.asarray(actions)),
        stats.norm.logpdf(actions, mean, np.exp(log_std)).sum(axis=-1),
        rtol=1e-5,
    )


def test_gaussian_kl_matches_closed_form(gaussian_params):
    mean, log_std = gaussian_params
    rng = np.random.default_rng(6)
    other_mean = rng.normal(size=(B, D)).astype(np.float32)
    other_log_std = rng.uniform(-1.0, 0.7, size=(B, D)).astype(np.float32)
    dist = DiagGaussian(jnp.asarray(mean), jnp.asarray(log_std))
    other = DiagGaussian(jnp.asarray(other_mean), jnp.asarray(other_log_std))

    # KL between multivariate normals, written with full covariance matrices:
    # ½ [tr(Σ₂⁻¹Σ₁) + (μ₂−μ₁)ᵀΣ₂⁻¹(μ₂−μ₁) − d + ln(det Σ₂ / det Σ₁)]
    expected = []
    for i in range(B):
        cov1 = np.diag(np.exp(2 * log_std[i].astype(np.float64)))
        cov2 = np.diag(np.exp(2 * other_log_std[i].astype(np.float64)))
        diff = other_mean[i].astype(np.float64) - mean[i]
        inv2 = np.linalg.inv(cov2)
        expected.append(
            0.5
            * (
                np.trace(inv2 @ cov1)
                + diff @ inv2 @ diff
                - D
                + np.log(np.linalg.det(cov2) / np.linalg.det(cov1))
            )
        )
    np.testing.assert_allclose(dist.kl(other), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dist.kl(dist), np.zeros(B), atol=1e-6)


def test_gaussian_sample_statistics_and_mode(gaussian_params):
    mean, log_std = gaussian_params
    num_samples = 40_000
    dist = DiagGaussian(
        jnp.broadcast_to(jnp.asarray(mean), (num_samples, B, D)),
        jnp.broadcast_to(jnp.asarray(log_std), (num_samples, B, D)),
    )
    samples = np.asarray(jax.jit(DiagGaussian.sample)(dist, jax.random.PRNGKey(1)))
    assert samples.shape == (num_samples, B, D)
    std = np.exp(log_std)
    # 5 standard errors of the sample mean and (approximately) of the sample std.
    np.testing.assert_array_less(np.abs(samples.mean(axis=0) - mean), 5 * std / np.sqrt(num_samples))
    np.testing.assert_array_less(np.abs(samples.std(axis=0) - std), 5 * std / np.sqrt(2 * num_samples))
    np.testing.assert_array_equal(DiagGaussian(jnp.asarray(mean), jnp.asarray(log_std)).mode(), mean)


def test_distributions_pass_through_jit_and_vmap(logits, gaussian_params):
    """Both are pytrees: a batch of distributions vmaps like an array."""
    mean, log_std = gaussian_params
    gaussian_entropy = jax.jit(jax.vmap(lambda d: d.entropy()))(DiagGaussian(jnp.asarray(mean), jnp.asarray(log_std)))
    np.testing.assert_allclose(gaussian_entropy, stats.norm.entropy(mean, np.exp(log_std)).sum(-1), rtol=1e-5)
    categorical_mode = jax.jit(jax.vmap(lambda d: d.mode()))(Categorical(jnp.asarray(logits)))
    np.testing.assert_array_equal(categorical_mode, np.argmax(logits, axis=-1))
