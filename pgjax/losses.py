"""Policy-gradient losses: scalar functions to minimise with respect to the policy.

Each takes per-sample arrays of any (equal) shape and returns a scalar mean. An optional
`mask` of the same shape (per-sample weights, rlax-style; 0/1 for padding) turns every
mean, the auxiliary metrics included, into the weighted mean Σ m·x / Σ m, so padded
steps (after an episode ended, or after a sequence's last token) count for nothing.
Quantities that come from the behaviour policy or from the critic's targets
(`old_log_prob`, `advantages`, `targets`) are constants of the objective: the
losses stop gradients through them, so a caller cannot leak gradient into them
by accident.

Token-level pieces (RLHF-style, the names of TRL and verl): Schulman's KL estimators
k1/k2/k3 (`kl_estimate`), the loss aggregation modes token-mean, seq-mean-token-mean,
seq-mean-token-sum and seq-mean-token-sum-norm (`aggregation_scale`), and the clip
statistics of an asymmetric (clip-higher) surrogate (`clip_statistics`).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from pgjax.checks import check_choice, check_positive

sg = jax.lax.stop_gradient

KL_ESTIMATORS = ("k1", "k2", "k3")
AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


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
    samples with `|r − 1| > ε`, under the mask). Neither is differentiated.
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
    """PPO's adaptive KL-penalty coefficient (Schulman et al., 2017, §4), for the next iteration::

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


def kl_estimate(log_prob: chex.Array, ref_log_prob: chex.Array, estimator: str = "k3") -> chex.Array:
    """Per-token estimate of KL(π_θ ‖ π_ref) from tokens sampled from π_θ (Schulman, 2020).

    With log ρ = log π_θ(a|s) − log π_ref(a|s) at the sampled token a ~ π_θ::

        k1 = log ρ                      unbiased, high variance, can be negative
        k2 = ½ (log ρ)²                 biased (its mean is close to the KL only when
                                        the two policies are close), always ≥ 0
        k3 = (1/ρ − 1) + log ρ          unbiased and always ≥ 0 (verl's "low_var_kl")

    Gradients flow through `log_prob` only (π_ref is frozen). Shapes equal; returns that shape.
    """
    chex.assert_equal_shape([log_prob, ref_log_prob])
    check_choice("kl_estimator", estimator, KL_ESTIMATORS)
    log_ratio = log_prob - sg(ref_log_prob)
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio**2
    return jnp.expm1(-log_ratio) + log_ratio


def aggregation_scale(mask: chex.Array, mode: str, max_len: int | None = None) -> chex.Array:
    """Per-token factors s `[B, T]` that turn the token mean under `mask` into the loss
    aggregation `mode`: Σ m·s·x / Σ m over the whole batch equals (L_b = Σ_t m_{b,t} the length
    of completion b, L̄ their mean, T_max = `max_len`, default T)

        token-mean               Σ_{b,t} m·x / Σ m          s = 1            every token counts alike
        seq-mean-token-mean      (1/B) Σ_b Σ_t m·x / L_b    s = L̄ / L_b     every completion counts alike
        seq-mean-token-sum       (1/B) Σ_b Σ_t m·x          s = L̄           longer completions count more
        seq-mean-token-sum-norm  (1/B) Σ_b Σ_t m·x / T_max  s = L̄ / T_max   Dr. GRPO: a constant normaliser

    verl's seq-mean-token-sum-norm divides the summed tokens by T alone (per micro-batch);
    here the mean over the B completions is kept, as in Dr. GRPO's objective, so that the
    loss's scale does not grow with the batch. Learning that shuffles single tokens into
    minibatches takes the token mean of s·x in each, an estimate of the whole batch's
    aggregate (for token-mean, exactly verl's per-minibatch token mean).
    """
    chex.assert_rank(mask, 2)
    check_choice("loss_agg_mode", mode, AGGREGATIONS)
    mask = jnp.asarray(mask, jnp.float32)
    if mode == "token-mean":
        return jnp.ones_like(mask)
    mean_length = mask.sum() / mask.shape[0]
    if mode == "seq-mean-token-mean":
        return jnp.broadcast_to(mean_length / jnp.maximum(mask.sum(axis=1, keepdims=True), 1.0), mask.shape)
    if mode == "seq-mean-token-sum":
        return jnp.broadcast_to(mean_length, mask.shape)
    max_len = mask.shape[1] if max_len is None else max_len
    check_positive("max_len", max_len)
    return jnp.broadcast_to(mean_length / max_len, mask.shape)


def clip_statistics(log_ratio, advantages, clip_eps_low, clip_eps_high, mask) -> dict[str, chex.Array]:
    """Token means under `mask` (not differentiated): `approx_kl` ((r − 1) − log r),
    `clip_fraction` (r outside [1 − ε_low, 1 + ε_high]), and TRL's `clip_fraction_low` /
    `_high` (where that bound clips the objective: r < 1 − ε_low with A < 0, r > 1 + ε_high
    with A > 0). Any shapes, all equal."""
    ratio = jnp.exp(log_ratio)
    below, above = ratio < 1.0 - clip_eps_low, ratio > 1.0 + clip_eps_high
    mean = lambda x: sg(masked_mean(x.astype(jnp.float32), mask))  # noqa: E731
    return {
        "approx_kl": mean((ratio - 1.0) - log_ratio),
        "clip_fraction": mean(below | above),
        "clip_fraction_low": mean(below & (advantages < 0)),
        "clip_fraction_high": mean(above & (advantages > 0)),
    }
