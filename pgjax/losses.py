"""Policy-gradient losses: scalar functions to minimise with respect to the policy.

Each takes per-sample arrays of any (equal) shape and returns a scalar mean. An optional
`mask` of the same shape (per-sample weights, rlax-style; 0/1 for padding) turns every
mean, the auxiliary metrics included, into the weighted mean Σ m·x / Σ m, so padded
steps (after an episode ended, or after a sequence's last token) count for nothing.
Quantities that come from the behaviour policy or from the critic's targets
(`old_log_prob`, `advantages`, `targets`) are constants of the objective: the
losses stop gradients through them, so a caller cannot leak gradient into them
by accident.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

sg = jax.lax.stop_gradient


def check_positive(name: str, value: chex.Numeric) -> None:
    """Raise `ValueError` naming `name` if `value` is concrete and not > 0. Traced values
    (inside `jit`/`vmap`) cannot be inspected and pass; configs check them at construction."""
    if isinstance(value, jax.core.Tracer):
        return
    if not np.all(np.asarray(value) > 0):
        raise ValueError(f"{name}: must be > 0, got {value!r}")


def masked_mean(values: chex.Array, mask: chex.Array | None = None) -> chex.Array:
    """mean(x), or Σ m·x / Σ m under a `mask` of x's shape (0 where the mask is all zero)."""
    if mask is None:
        return jnp.mean(values)
    chex.assert_equal_shape([values, mask])
    mask = jnp.asarray(mask, values.dtype)
    return (values * mask).sum() / jnp.maximum(mask.sum(), jnp.finfo(values.dtype).tiny)


def policy_gradient_loss(log_prob: chex.Array, advantages: chex.Array, mask: chex.Array | None = None) -> chex.Array:
    """Vanilla (REINFORCE / A2C) loss, whose gradient is the policy-gradient estimate.

    L = −mean_m(log π(a|s) · A),   ∇L = −mean_m(∇ log π(a|s) · A)
    """
    chex.assert_equal_shape([log_prob, advantages])
    return -masked_mean(log_prob * sg(advantages), mask)


def clipped_surrogate_objective(
    log_prob: chex.Array,
    old_log_prob: chex.Array,
    advantages: chex.Array,
    clip_eps_low: chex.Numeric,
    clip_eps_high: chex.Numeric,
) -> tuple[chex.Array, chex.Array]:
    """Per-sample clipped objective (to maximise) and the log-ratio it was built from:

    r = exp(log π(a|s) − log π_old(a|s)),   min(r·A, clip(r, 1 − ε_low, 1 + ε_high)·A)

    PPO clips symmetrically (ε_low = ε_high); DAPO's clip-higher raises ε_high. The ratio
    is not differentiated through `old_log_prob` nor the objective through `advantages`.
    """
    check_positive("clip_eps_low", clip_eps_low)
    check_positive("clip_eps_high", clip_eps_high)
    log_ratio = log_prob - sg(old_log_prob)
    ratio = jnp.exp(log_ratio)
    advantages = sg(advantages)
    clipped = jnp.clip(ratio, 1.0 - clip_eps_low, 1.0 + clip_eps_high) * advantages
    return jnp.minimum(ratio * advantages, clipped), log_ratio


def clipped_surrogate_loss(
    log_prob: chex.Array,
    old_log_prob: chex.Array,
    advantages: chex.Array,
    clip_eps: chex.Numeric,
    mask: chex.Array | None = None,
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """PPO's clipped surrogate objective (Schulman et al., 2017), negated.

    r = exp(log π(a|s) − log π_old(a|s))
    L = −mean_m(min(r·A, clip(r, 1 − ε, 1 + ε)·A))

    Returns `(L, aux)`, `aux` holding `approx_kl` (the low-variance estimator
    mean_m((r − 1) − log r) of KL(π_old ‖ π)) and `clip_fraction` (share of
    samples with |r − 1| > ε, under the mask). Neither is differentiated.
    """
    chex.assert_equal_shape([log_prob, old_log_prob, advantages])
    check_positive("clip_eps", clip_eps)
    objective, log_ratio = clipped_surrogate_objective(log_prob, old_log_prob, advantages, clip_eps, clip_eps)
    ratio = jnp.exp(log_ratio)
    loss = -masked_mean(objective, mask)
    aux = {
        "approx_kl": sg(masked_mean((ratio - 1.0) - log_ratio, mask)),
        "clip_fraction": sg(masked_mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32), mask)),
    }
    return loss, aux


def importance_weighted_loss(
    log_prob: chex.Array, old_log_prob: chex.Array, advantages: chex.Array, mask: chex.Array | None = None
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """Unclipped surrogate (TRPO, PPO with a KL penalty), negated.

    L = −mean_m(exp(log π(a|s) − log π_old(a|s)) · A)
    Returns `(L, aux)` with `approx_kl` as in `clipped_surrogate_loss`.
    """
    chex.assert_equal_shape([log_prob, old_log_prob, advantages])
    log_ratio = log_prob - sg(old_log_prob)
    ratio = jnp.exp(log_ratio)
    return -masked_mean(ratio * sg(advantages), mask), {"approx_kl": sg(masked_mean((ratio - 1.0) - log_ratio, mask))}


def value_loss(
    values: chex.Array,
    targets: chex.Array,
    old_values: chex.Array | None = None,
    clip_eps: chex.Numeric | None = None,
    mask: chex.Array | None = None,
) -> chex.Array:
    """Squared-error critic loss, optionally clipped around the old values (PPO2).

    unclipped:  L = ½ mean_m((V − y)²)
    clipped:    V_c = V_old + clip(V − V_old, −ε, ε);  L = ½ mean_m(max((V − y)², (V_c − y)²))
    """
    chex.assert_equal_shape([values, targets])
    targets = sg(targets)
    squared = (values - targets) ** 2
    if clip_eps is None:
        return 0.5 * masked_mean(squared, mask)
    chex.assert_equal_shape([values, old_values])
    old_values = sg(old_values)
    clipped_values = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    return 0.5 * masked_mean(jnp.maximum(squared, (clipped_values - targets) ** 2), mask)


def entropy_bonus(entropy: chex.Array, mask: chex.Array | None = None) -> chex.Array:
    """−mean_m(H(π(·|s))): adding `ent_coef` times this to a loss rewards exploration."""
    return -masked_mean(entropy, mask)


def kl_penalty(kl: chex.Array, coef: chex.Numeric, mask: chex.Array | None = None) -> chex.Array:
    """β · mean_m(KL): keeps the new policy near a reference (PPO-KL, GRPO)."""
    return coef * masked_mean(kl, mask)


def adaptive_kl_coef(
    kl_coef: chex.Numeric,
    kl: chex.Numeric,
    target_kl: chex.Numeric,
    tolerance: float = 1.5,
    factor: float = 2.0,
    bounds: tuple[float, float] = (1e-4, 1e4),
) -> chex.Array:
    """PPO's adaptive KL-penalty coefficient (Schulman et al., 2017, §4), for the next iteration.

    β ← β · 2   if KL > 1.5 · target_kl   (the policy moved too far: penalise harder)
    β ← β / 2   if KL < target_kl / 1.5   (it barely moved: penalise less)
    β ← β       otherwise;   then β ← clip(β, *bounds)
    `tolerance` (1.5) and `factor` (2) are the paper's constants. The clip matters
    only in long quiet stretches: halving forever underflows β to 0 in float32,
    and from 0 doubling can never bring the penalty back. All arguments are scalars.
    """
    chex.assert_rank([kl_coef, kl, target_kl], 0)
    kl_coef = jnp.asarray(kl_coef, jnp.float32)
    grown = jnp.where(kl > tolerance * target_kl, kl_coef * factor, kl_coef)
    return jnp.clip(jnp.where(kl < target_kl / tolerance, kl_coef / factor, grown), *bounds)
