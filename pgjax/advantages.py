"""Advantage and return estimators. All arrays are time-major `[T, ...]`.

Episode ends come in two kinds and are treated differently:

- `terminated[t]`: s_{t+1} is a terminal state, whose value is zero by
  definition, so nothing is bootstrapped;
- `truncated[t]`: the episode was cut (a time limit); s_{t+1} still has a
  value, so the estimate bootstraps from `next_values[t] = V(s_{t+1})`.

Either one ends the episode, so no credit flows across it.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def _float(x: chex.Array, like: chex.Array) -> chex.Array:
    return jnp.asarray(x).astype(like.dtype)


def _check_time_steps(rewards: chex.Array) -> None:
    if jnp.ndim(rewards) == 0 or jnp.shape(rewards)[0] == 0:
        raise ValueError(f"rewards: must have at least one time step on the leading (time) axis, got shape {jnp.shape(rewards)}")


def gae(
    rewards: chex.Array,
    values: chex.Array,
    next_values: chex.Array,
    terminated: chex.Array,
    truncated: chex.Array,
    gamma: chex.Numeric,
    gae_lambda: chex.Numeric,
) -> tuple[chex.Array, chex.Array]:
    """Generalised advantage estimation (Schulman et al., 2016).

    δ_t = r_t + γ (1 − terminated_t) V(s_{t+1}) − V(s_t)
    A_t = δ_t + γ λ (1 − terminated_t)(1 − truncated_t) A_{t+1},   A_T = 0
    targets_t = A_t + V(s_t)

    Args: `rewards`, `values`, `next_values`, `terminated`, `truncated`, all
    `[T, ...]`; `gamma` and `gae_lambda` scalars (may be traced).
    Returns `(advantages, targets)`, both `[T, ...]`.
    """
    chex.assert_equal_shape([rewards, values, next_values, terminated, truncated])
    _check_time_steps(rewards)
    chex.assert_rank(gamma, 0)
    chex.assert_rank(gae_lambda, 0)
    not_terminated = 1.0 - _float(terminated, rewards)
    continues = not_terminated * (1.0 - _float(truncated, rewards))
    deltas = rewards + gamma * not_terminated * next_values - values

    def backward(next_advantage, step):
        delta, cont = step
        advantage = delta + gamma * gae_lambda * cont * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, continues), reverse=True)
    return advantages, advantages + values


def discounted_returns(
    rewards: chex.Array,
    terminated: chex.Array,
    truncated: chex.Array,
    gamma: chex.Numeric,
    bootstrap: chex.Array | None = None,
) -> chex.Array:
    """Reward-to-go G_t = Σ_{k≥t} γ^{k−t} r_k within the episode.

    G_t = r_t + γ (1 − terminated_t) · [truncated_t ? b_t : G_{t+1}],   G_T = b_{T−1}

    `bootstrap` `[T, ...]` holds V(s_{t+1}) to continue from where the episode
    was truncated (and at the end of the segment); `None` means zero, the pure
    Monte-Carlo return of the observed rewards. Returns `[T, ...]`.
    """
    chex.assert_equal_shape([rewards, terminated, truncated])
    _check_time_steps(rewards)
    chex.assert_rank(gamma, 0)
    if bootstrap is None:
        bootstrap = jnp.zeros_like(rewards)
    chex.assert_equal_shape([rewards, bootstrap])
    not_terminated = 1.0 - _float(terminated, rewards)
    cut = _float(truncated, rewards)

    def backward(next_return, step):
        reward, keep, is_cut, value = step
        following = is_cut * value + (1.0 - is_cut) * next_return
        ret = reward + gamma * keep * following
        return ret, ret

    _, returns = jax.lax.scan(
        backward, bootstrap[-1], (rewards, not_terminated, cut, bootstrap), reverse=True
    )
    return returns


def normalize(advantages: chex.Array, epsilon: float = 1e-8) -> chex.Array:
    """(A − mean(A)) / (std(A) + ε) over all elements."""
    return (advantages - advantages.mean()) / (advantages.std() + epsilon)


# ---------------------------------------------------------------- Monte-Carlo baselines


def masked_normalize(advantages: chex.Array, mask: chex.Array, epsilon: float = 1e-8) -> chex.Array:
    """(A − μ) / (σ + ε) with μ, σ the mean and std of the entries where `mask` is 1;
    entries where `mask` is 0 become 0 (they are padding, e.g. steps after an episode ended).

    μ = Σ m·A / Σ m,  σ² = Σ m·(A − μ)² / Σ m.  `advantages`, `mask` of equal shape.
    """
    chex.assert_equal_shape([advantages, mask])
    mask = _float(mask, advantages)
    count = jnp.maximum(mask.sum(), 1.0)
    mean = (mask * advantages).sum() / count
    std = jnp.sqrt((mask * (advantages - mean) ** 2).sum() / count)
    return mask * (advantages - mean) / (std + epsilon)


def leave_one_out_baseline(returns: chex.Array) -> chex.Array:
    """REINFORCE leave-one-out (Kool et al., 2019): each sample's baseline is the mean
    of the other K − 1 returns of its group, so it is independent of the sample itself
    and the estimator stays unbiased.

    b_{g,k} = (Σ_j R_{g,j} − R_{g,k}) / (K − 1).   `returns` `[G, K]`, K ≥ 2; returns `[G, K]`.
    """
    chex.assert_rank(returns, 2)
    group_size = returns.shape[1]
    if group_size < 2:
        raise ValueError(f"group_size: leave-one-out needs at least 2 samples per group, got {group_size}")
    return (returns.sum(axis=1, keepdims=True) - returns) / (group_size - 1)


def group_normalized_advantages(returns: chex.Array, epsilon: float = 1e-8, scale_by_std: bool = True) -> chex.Array:
    """GRPO's group-relative advantage (Shao et al., 2024): each return standardised
    within its group.

    A_{g,k} = (R_{g,k} − mean_j R_{g,j}) / (std_j R_{g,j} + ε),  std the population std.
    `scale_by_std=False` keeps only the centring, A = R − mean_j R (Dr. GRPO, Liu et al.,
    2025: dividing by the std weights near-unanimous groups, too easy or too hard, most).
    `returns` `[G, K]`; returns `[G, K]` (0 for a group whose returns are all equal).
    """
    chex.assert_rank(returns, 2)
    centred = returns - returns.mean(axis=1, keepdims=True)
    if not scale_by_std:
        return centred
    return centred / (returns.std(axis=1, keepdims=True) + epsilon)
