"""Second-order pieces for trust-region policy optimisation (TRPO), as pure functions.

TRPO (Schulman et al., 2015) maximises a surrogate L(θ) subject to a bound on the
mean KL divergence from the behaviour policy, `D̄(θ) = mean_s KL(π_old(·|s) ‖ π_θ(·|s)) ≤ δ`.
Near θ_old, D̄ ≈ ½ Δᵀ F Δ with F the Fisher information matrix (the Hessian of D̄
at θ_old), so the step is the natural gradient F⁻¹g scaled onto the ellipsoid
½ Δᵀ F Δ = δ, then shrunk by a line search until the true constraint holds:

    x       = conjugate_gradient(v ↦ (F + λI) v, g)      # never materialising F
    Δ       = sqrt(2δ / xᵀ(F + λI)x) · x                   # trust_region_step
    θ_new   = θ_old + ρᵏ Δ, smallest k that is acceptable   # backtracking_line_search

Vectors are flat `[n]` arrays; `jax.flatten_util.ravel_pytree` turns a parameter
pytree into one and back.
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp

from pgjax.checks import check_positive_int

Matvec = Callable[[chex.Array], chex.Array]


def conjugate_gradient(
    matvec: Matvec, b: chex.Array, num_iterations: int, residual_tol: float = 1e-10
) -> chex.Array:
    """Approximately solve A x = b for symmetric positive-definite A, given only v ↦ A v.

    Starting from x₀ = 0, r₀ = p₀ = b, each iteration does::

        α = rᵀr / pᵀAp,  x ← x + α p,  r' = r − α Ap,  β = r'ᵀr' / rᵀr,  p ← r' + β p.

    After n iterations (n = dim b) the solution is exact in exact arithmetic; fewer
    iterations give the minimiser of ½xᵀAx − bᵀx over the Krylov subspace.
    Iterations freeze once rᵀr ≤ `residual_tol`, so a converged solve does not
    divide by zero. `num_iterations` is static (one `fori_loop`).

    Args: `matvec` maps `[n] -> [n]`; `b` `[n]`. Returns `x` `[n]`.
    """
    chex.assert_rank(b, 1)
    check_positive_int("num_iterations", num_iterations)

    def iteration(_, carry):
        x, residual, direction, residual_sq = carry
        active = residual_sq > residual_tol
        product = matvec(direction)
        curvature = jnp.vdot(direction, product)
        alpha = jnp.where(active, residual_sq / jnp.where(active, curvature, 1.0), 0.0)
        x = x + alpha * direction
        residual = residual - alpha * product
        new_residual_sq = jnp.vdot(residual, residual)
        beta = jnp.where(active, new_residual_sq / jnp.where(active, residual_sq, 1.0), 0.0)
        direction = jnp.where(active, residual + beta * direction, direction)
        return x, residual, direction, jnp.where(active, new_residual_sq, residual_sq)

    init = (jnp.zeros_like(b), b, b, jnp.vdot(b, b))
    return jax.lax.fori_loop(0, num_iterations, iteration, init)[0]


def fisher_vector_product_fn(
    kl_fn: Callable[[chex.Array], chex.Array], params: chex.Array, damping: chex.Numeric = 0.0
) -> Matvec:
    """The damped Fisher–vector product v ↦ (F + λI) v at `params`, as a function.

    F = ∇²_θ D̄(θ)|_{θ=θ_old}, where `kl_fn(θ)` = D̄(θ) = mean KL(π_old ‖ π_θ) is a
    scalar with `params` = θ_old. The KL's Hessian at its minimum is the Fisher
    information, so F v is a Hessian–vector product: forward-mode (`jax.linearize`,
    a JVP) of the reverse-mode gradient. Linearising once lets every CG iteration
    reuse the forward pass; F itself (`[n, n]`) is never built. The damping λ
    keeps the system well conditioned where the sampled Fisher is nearly singular.

    Args: `kl_fn` maps `[n] -> []`; `params` `[n]`. Returns a matvec `[n] -> [n]`.
    """
    chex.assert_rank(params, 1)
    _, hessian_vector_product = jax.linearize(jax.grad(kl_fn), params)

    def matvec(vector):
        chex.assert_equal_shape([vector, params])
        return hessian_vector_product(vector) + damping * vector

    return matvec


def trust_region_step(
    matvec: Matvec, gradient: chex.Array, max_kl: chex.Numeric, num_iterations: int
) -> tuple[chex.Array, chex.Array]:
    """The natural-gradient step that reaches the quadratic KL bound.

    x = A⁻¹ g by conjugate gradient (A = `matvec`, the damped Fisher);
    Δ = sqrt(2δ / xᵀAx) · x, so that the quadratic model ½ΔᵀAΔ of the KL equals δ.
    Returns `(Δ, expected_improvement = gᵀΔ)`, both from `[n]` inputs.
    """
    chex.assert_rank(gradient, 1)
    direction = conjugate_gradient(matvec, gradient, num_iterations)
    curvature = jnp.vdot(direction, matvec(direction))
    # A zero gradient gives a zero direction; the floor keeps the scale finite (the step is 0 anyway).
    scale = jnp.sqrt(2.0 * max_kl / jnp.maximum(curvature, 1e-12))
    step = scale * direction
    return step, jnp.vdot(gradient, step)


def backtracking_line_search(
    is_acceptable: Callable[[chex.Array], chex.Array],
    params: chex.Array,
    full_step: chex.Array,
    num_steps: int,
    backtrack_ratio: chex.Numeric,
) -> tuple[chex.Array, chex.Array]:
    """Shrink a step geometrically until the candidate it reaches is acceptable.

    θ_k = θ + ρᵏ Δ for k = 0, 1, …, K − 1 (ρ = `backtrack_ratio`, K = `num_steps`);
    returns θ_k for the smallest k with `is_acceptable(θ_k)`, or θ itself if none
    is, together with the fraction taken (ρᵏ, or 0 when rejected). Stops at the
    first acceptable candidate (`lax.while_loop`), so an early acceptance costs
    one evaluation.

    Args: `is_acceptable` maps `[n] -> bool []`; `params`, `full_step` `[n]`.
    Returns `(new_params [n], step_fraction [])`.
    """
    chex.assert_rank(params, 1)
    chex.assert_equal_shape([params, full_step])
    check_positive_int("num_steps", num_steps)

    def searching(carry):
        k, _, accepted = carry
        return (k < num_steps) & ~accepted

    def try_next(carry):
        k, _, _ = carry
        fraction = jnp.asarray(backtrack_ratio, params.dtype) ** k
        return k + 1, fraction, jnp.asarray(is_acceptable(params + fraction * full_step), bool)

    zero = jnp.zeros((), params.dtype)
    init = (jnp.zeros((), jnp.int32), zero, jnp.zeros((), bool))
    _, fraction, accepted = jax.lax.while_loop(searching, try_next, init)
    fraction = jnp.where(accepted, fraction, zero)
    return params + fraction * full_step, fraction
