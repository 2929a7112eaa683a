"""Per-token pieces of RL on token sequences (RLHF-style), pure and masked.

Arrays are `[B, T]`: B completions × T token positions, batch-major as the sequences
are, with `mask [B, T]` 1 on the tokens each completion generated and 0 after its end
(padding). Padded tokens count for nothing: they get zero weight in every aggregate and
so zero gradient. The names are those of TRL and verl:

- `kl_estimate`: Schulman's estimators k1, k2, k3 of KL(π_θ ‖ π_ref) from the sampled
  tokens; `kl_in_reward` places β·KL in the reward (PPO-for-RLHF, RLOO, REINFORCE++),
  `kl_estimate` + `aggregate` in the loss (GRPO).
- `aggregate`: the loss aggregation modes token-mean, seq-mean-token-mean,
  seq-mean-token-sum and seq-mean-token-sum-norm (Dr. GRPO's constant normaliser).
- `clipped_surrogate_loss`: PPO's clipped objective with DAPO's asymmetric clip range
  (clip-higher, ε_low ≠ ε_high), aggregated by one of those modes.
- `sequence_rewards_to_go`, `batch_normalized_advantages`: REINFORCE++'s per-token returns
  and its advantages, normalised over the whole batch.
Group baselines (RLOO's leave-one-out, GRPO's group standardisation with or without the
std, as in Dr. GRPO) are in `pgjax.advantages`.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from pgjax.advantages import masked_normalize
from pgjax.losses import check_positive, clipped_surrogate_objective, masked_mean

sg = jax.lax.stop_gradient

KL_ESTIMATORS = ("k1", "k2", "k3")
AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")


def kl_estimate(log_prob: chex.Array, ref_log_prob: chex.Array, estimator: str = "k3") -> chex.Array:
    """Per-token estimate of KL(π_θ ‖ π_ref) from tokens sampled from π_θ (Schulman, 2020).

    With log ρ = log π_θ(a|s) − log π_ref(a|s) at the sampled token a ~ π_θ:
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


def kl_in_reward(rewards: chex.Array, kl: chex.Array, kl_coef: chex.Numeric, mask: chex.Array) -> chex.Array:
    """Rewards with the KL leash folded in, per token: r'_t = r_t − β · KL_t on the
    completion's tokens (0 after its end). `rewards`, `kl`, `mask` `[B, T]`; the KL is a
    constant of the objective here (it shapes the reward, no gradient flows through it)."""
    chex.assert_equal_shape([rewards, kl, mask])
    mask = jnp.asarray(mask, rewards.dtype)
    return (rewards - kl_coef * sg(kl)) * mask


def aggregation_weights(mask: chex.Array, mode: str, max_len: int | None = None) -> chex.Array:
    """The per-token weights w `[B, T]` with which `aggregate(x) = Σ w · x` (m the mask, L_b
    = Σ_t m_{b,t} the length of completion b, T_max = `max_len`, default T):

        token-mean               w = m / Σ_{b,t} m          every token counts alike
        seq-mean-token-mean      w = m / (B · L_b)          every completion counts alike
        seq-mean-token-sum       w = m / B                  longer completions count more
        seq-mean-token-sum-norm  w = m / (B · T_max)        Dr. GRPO: a constant normaliser

    verl's seq-mean-token-sum-norm divides the summed tokens by T alone (per micro-batch);
    here the mean over the B completions is kept, as in Dr. GRPO's objective, so that the
    loss's scale does not grow with the batch. A completion with no tokens has weight 0.
    """
    chex.assert_rank(mask, 2)
    check_choice("loss_agg_mode", mode, AGGREGATIONS)
    mask = jnp.asarray(mask, jnp.float32)
    num_sequences, length = mask.shape
    tiny = jnp.finfo(jnp.float32).tiny
    if mode == "token-mean":
        return mask / jnp.maximum(mask.sum(), tiny)
    if mode == "seq-mean-token-mean":
        return mask / (num_sequences * jnp.maximum(mask.sum(axis=1, keepdims=True), tiny))
    if mode == "seq-mean-token-sum":
        return mask / num_sequences
    max_len = length if max_len is None else max_len
    check_positive("max_len", max_len)
    return mask / (num_sequences * max_len)


def aggregation_scale(mask: chex.Array, mode: str, max_len: int | None = None) -> chex.Array:
    """Per-token factors s `[B, T]` that turn the token mean under `mask` into the
    aggregation `mode`: Σ m·s·x / Σ m = `aggregate(x, mask, mode)` over the whole batch.

    With L̄ the mean completion length: token-mean s = 1; seq-mean-token-mean s = L̄ / L_b;
    seq-mean-token-sum s = L̄; seq-mean-token-sum-norm s = L̄ / T_max. Learning that shuffles
    single tokens into minibatches takes the token mean of s·x in each, an estimate of the
    whole batch's aggregate (for token-mean, exactly verl's per-minibatch token mean).
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


def aggregate(values: chex.Array, mask: chex.Array, mode: str, max_len: int | None = None) -> chex.Array:
    """Σ w · x: a per-token quantity `values [B, T]` reduced to a scalar under `mask` by the
    aggregation `mode` (see `aggregation_weights`)."""
    chex.assert_equal_shape([values, mask])
    return jnp.sum(aggregation_weights(mask, mode, max_len) * values)


def clipped_surrogate_loss(
    log_prob: chex.Array,
    old_log_prob: chex.Array,
    advantages: chex.Array,
    mask: chex.Array,
    clip_eps_low: chex.Numeric = 0.2,
    clip_eps_high: chex.Numeric | None = None,
    mode: str = "token-mean",
    max_len: int | None = None,
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """PPO's clipped surrogate per token, with an asymmetric clip range (DAPO's clip-higher),
    negated and aggregated:

        r = exp(log π_θ − log π_old),  L = −aggregate(min(r·A, clip(r, 1 − ε_low, 1 + ε_high)·A))

    `clip_eps_high=None` means ε_high = ε_low (PPO). All arrays `[B, T]`. Returns `(L, aux)`,
    `aux` the token means of `clip_statistics`.
    """
    chex.assert_equal_shape([log_prob, old_log_prob, advantages, mask])
    clip_eps_high = clip_eps_low if clip_eps_high is None else clip_eps_high
    objective, log_ratio = clipped_surrogate_objective(log_prob, old_log_prob, advantages, clip_eps_low, clip_eps_high)
    aux = clip_statistics(log_ratio, advantages, clip_eps_low, clip_eps_high, mask)
    return -aggregate(objective, mask, mode, max_len), aux


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


def sequence_rewards_to_go(rewards: chex.Array, mask: chex.Array, gamma: chex.Numeric = 1.0) -> chex.Array:
    """G_{b,t} = Σ_{s ≥ t} γ^{s−t} r_{b,s} over the completion's tokens (0 after its end).
    `rewards`, `mask` `[B, T]` (a sequence-level reward sits on the completion's last token)."""
    chex.assert_equal_shape([rewards, mask])
    mask = jnp.asarray(mask, rewards.dtype)

    def backward(following, step):
        reward, keep = step
        value = (reward + gamma * following) * keep
        return value, value

    _, returns = jax.lax.scan(backward, jnp.zeros(rewards.shape[0], rewards.dtype),
                              (rewards.T * mask.T, mask.T), reverse=True)
    return returns.T


def batch_normalized_advantages(returns: chex.Array, mask: chex.Array, epsilon: float = 1e-8) -> chex.Array:
    """REINFORCE++'s advantages (Hu, 2025): per-token returns standardised over every token
    of the whole batch, A = (G − μ) / (σ + ε), μ and σ over the tokens where `mask` is 1
    (0 elsewhere). No critic and no group: the batch is the baseline. `[B, T]` → `[B, T]`."""
    return masked_normalize(returns, mask, epsilon)
