"""Conjugate gradient, Fisher–vector products, the trust-region step and the line search,
each against an independent NumPy computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from pgjax import optim
from pgjax.distributions import DiagGaussian
from pgjax.networks import ActorCritic


def random_spd(n, seed):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    return m @ m.T + 0.5 * np.eye(n), rng.normal(size=n)


def test_conjugate_gradient_solves_spd_system_like_numpy():
    a, b = random_spd(12, 0)
    x = jax.jit(lambda b: optim.conjugate_gradient(lambda v: jnp.asarray(a, jnp.float32) @ v, b, 40))(
        jnp.asarray(b, jnp.float32)
    )
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=2e-3, atol=2e-3)
    assert np.all(np.isfinite(x))  # iterations past convergence freeze instead of dividing by 0


def test_conjugate_gradient_error_in_energy_norm_never_grows():
    a, b = random_spd(10, 1)
    exact = np.linalg.solve(a, b)
    solve = jax.jit(lambda b, k: optim.conjugate_gradient(lambda v: jnp.asarray(a, jnp.float32) @ v, b, k),
                    static_argnums=1)
    errors = []
    for k in range(1, 8):
        x = np.asarray(solve(jnp.asarray(b, jnp.float32), k), np.float64)
        errors.append((x - exact) @ a @ (x - exact))
    assert all(later <= earlier * (1 + 1e-4) for earlier, later in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.5 * errors[0]


def test_conjugate_gradient_is_exact_after_as_many_iterations_as_distinct_eigenvalues():
    eigenvalues = np.array([1.0, 1.0, 4.0, 4.0, 9.0])  # 3 distinct
    b = np.arange(1.0, 6.0)
    x = optim.conjugate_gradient(lambda v: jnp.asarray(eigenvalues, jnp.float32) * v, jnp.asarray(b, jnp.float32), 3)
    np.testing.assert_allclose(x, b / eigenvalues, rtol=1e-5)


def test_conjugate_gradient_rejects_zero_iterations():
    with pytest.raises(ValueError, match="num_iterations"):
        optim.conjugate_gradient(lambda v: v, jnp.ones(3), 0)


def tiny_policy_kl(discrete: bool):
    """Mean KL(π_old ‖ π_θ) of a tiny actor on fixed states, as a function of flat θ."""
    network = ActorCritic(action_dim=3 if discrete else 2, discrete=discrete, hidden_sizes=(4,))
    obs = jax.random.normal(jax.random.key(0), (6, 2))
    params = network.init(jax.random.key(1), obs)
    # Nudge every parameter so the old policy is not the near-uniform initial one.
    params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.key(2), p.shape), params)
    flat, unravel = ravel_pytree(params)

    def policy(theta):
        return network.apply(unravel(theta), obs, method=ActorCritic.policy)

    old = policy(flat)
    return (lambda theta: old.kl(policy(theta)).mean()), policy, flat


@pytest.mark.parametrize("discrete", [True, False])
def test_fisher_vector_product_matches_materialised_hessian_of_kl(discrete):
    kl_fn, _, flat = tiny_policy_kl(discrete)
    fisher = np.asarray(jax.jit(jax.hessian(kl_fn))(flat))  # the test alone materialises F
    vector = jax.random.normal(jax.random.key(3), flat.shape)
    damping = 0.1
    product = jax.jit(lambda v: optim.fisher_vector_product_fn(kl_fn, flat, damping)(v))(vector)
    expected = fisher @ np.asarray(vector) + damping * np.asarray(vector)
    np.testing.assert_allclose(product, expected, rtol=1e-4, atol=1e-5)


def test_fisher_vector_product_equals_expected_outer_product_of_scores():
    """Independent of second derivatives: F = mean_s Σ_a π(a|s) ∇log π(a|s) ∇log π(a|s)ᵀ."""
    kl_fn, policy, flat = tiny_policy_kl(discrete=True)
    log_probs = np.asarray(policy(flat).log_probs)  # [S, A]
    scores = np.asarray(jax.jit(jax.jacobian(lambda theta: policy(theta).log_probs))(flat))  # [S, A, n]
    probs = np.exp(log_probs)
    fisher = np.zeros((flat.size, flat.size))
    for s in range(probs.shape[0]):
        for a in range(probs.shape[1]):
            fisher += probs[s, a] * np.outer(scores[s, a], scores[s, a])
    fisher /= probs.shape[0]
    vector = np.asarray(jax.random.normal(jax.random.key(4), flat.shape))
    product = jax.jit(lambda v: optim.fisher_vector_product_fn(kl_fn, flat)(v))(jnp.asarray(vector))
    np.testing.assert_allclose(product, fisher @ vector,
                               rtol=1e-4, atol=1e-5)


def test_fisher_of_gaussian_in_mean_and_log_std_is_the_textbook_diagonal():
    """For θ = (μ, log σ) of N(μ, σ²), F = diag(1/σ², 2)."""
    theta = jnp.array([0.3, -1.2, 0.5, -0.4])  # μ (2 dims), then log σ

    def kl_fn(params):
        old = DiagGaussian(theta[:2], theta[2:])
        return old.kl(DiagGaussian(params[:2], params[2:]))

    vector = jnp.array([1.0, -2.0, 0.5, 3.0])
    expected = np.concatenate([np.exp(-2 * np.asarray(theta[2:])), [2.0, 2.0]]) * np.asarray(vector)
    np.testing.assert_allclose(optim.fisher_vector_product_fn(kl_fn, theta)(vector), expected, rtol=1e-5)


def test_trust_region_step_is_natural_gradient_on_the_kl_boundary():
    a, g = random_spd(8, 2)
    max_kl = 0.02
    step, expected_improvement = optim.trust_region_step(
        lambda v: jnp.asarray(a, jnp.float32) @ v, jnp.asarray(g, jnp.float32), max_kl, 30
    )
    step = np.asarray(step, np.float64)
    np.testing.assert_allclose(0.5 * step @ a @ step, max_kl, rtol=1e-3)
    direction = np.linalg.solve(a, g)
    expected = direction * np.sqrt(2 * max_kl / (direction @ a @ direction))
    np.testing.assert_allclose(step, expected, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(expected_improvement, g @ step, rtol=1e-4)


def test_trust_region_step_of_zero_gradient_is_zero():
    step, improvement = optim.trust_region_step(lambda v: 2.0 * v, jnp.zeros(4), 0.01, 5)
    assert np.all(step == 0) and improvement == 0


def numpy_line_search(accept, params, full_step, num_steps, ratio):
    for k in range(num_steps):
        candidate = params + ratio**k * full_step
        if accept(candidate):
            return candidate, ratio**k
    return params, 0.0


@pytest.mark.parametrize("radius, ratio", [(10.0, 0.5), (1.3, 0.5), (0.9, 0.8), (0.05, 0.5)])
def test_line_search_takes_the_largest_acceptable_fraction(radius, ratio):
    params = np.array([0.2, -0.1, 0.0])
    full_step = np.array([3.0, 1.0, -2.0])
    expected_params, expected_fraction = numpy_line_search(
        lambda c: np.linalg.norm(c) <= radius, params, full_step, 6, ratio
    )
    new_params, fraction = jax.jit(
        lambda p, s, r: optim.backtracking_line_search(lambda c: jnp.linalg.norm(c) <= radius, p, s, 6, r)
    )(jnp.asarray(params, jnp.float32), jnp.asarray(full_step, jnp.float32), ratio)
    np.testing.assert_allclose(fraction, expected_fraction, rtol=1e-6)
    np.testing.assert_allclose(new_params, expected_params, rtol=1e-6, atol=1e-7)


def test_line_search_rejects_everything_and_keeps_params_when_nothing_is_acceptable():
    params = jnp.array([1.0, 2.0])
    new_params, fraction = optim.backtracking_line_search(lambda c: False, params, jnp.array([5.0, 5.0]), 4, 0.5)
    assert fraction == 0.0
    np.testing.assert_array_equal(new_params, params)


def test_line_search_stops_at_the_first_acceptable_candidate():
    """An objective that improves only at tiny steps and again at the full step: the full step wins."""
    params = jnp.zeros(1)
    accept = lambda c: (c[0] > 0.9) | (c[0] < 0.1)  # noqa: E731
    _, fraction = optim.backtracking_line_search(accept, params, jnp.ones(1), 8, 0.5)
    assert fraction == 1.0
