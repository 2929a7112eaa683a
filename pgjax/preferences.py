"""Losses learned from pairwise preferences: a reward model (Bradley–Terry) and a policy
directly (DPO, cDPO, IPO), each returning `(loss, aux)` like `pgjax.losses`.

Every argument is one array per pair, `[B]` (any shape works, all equal): the chosen and the
rejected completion's reward, or their log-probabilities (a sequence's sum or mean of token
log-probabilities, `sequence_log_prob`) under the policy and the frozen reference. An optional
`weights` of that shape (per-pair weights, rlax's w; 0/1 for padding) turns every mean, the
auxiliary metrics included, into Σ w·x / Σ w. The reference's log-probabilities are constants:
no gradient flows into them. The `aux` metrics are scalars and are not differentiated.

Names and conventions follow TRL's RewardTrainer and DPOTrainer (loss types "sigmoid" and
"ipo", `label_smoothing`), so numbers can be compared with theirs.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

from pgjax.checks import check_positive
from pgjax.losses import masked_mean

sg = jax.lax.stop_gradient


def _check_same_shape(reference_name: str, reference: chex.Array, **others: chex.Array | None) -> None:
    """Each array in `others` (None skipped) must have the shape of `reference`: a `ValueError`
    naming the first that does not (shapes are static, so this holds under `jit` and `vmap`)."""
    shape = jnp.shape(reference)
    for name, value in others.items():
        if value is not None and jnp.shape(value) != shape:
            raise ValueError(f"{name}: must have the shape of {reference_name} {shape}, got {jnp.shape(value)}")


def _check_in_range(name: str, value, low: float, high: float) -> None:
    """`low <= value < high`, unless `value` is traced (then it cannot be inspected)."""
    if isinstance(value, jax.core.Tracer):
        return
    if not np.all((np.asarray(value) >= low) & (np.asarray(value) < high)):
        raise ValueError(f"{name}: must be in [{low}, {high}), got {value!r}")


def _reward_metrics(chosen: chex.Array, rejected: chex.Array, weights: chex.Array | None) -> dict[str, chex.Array]:
    """Under `weights`: the share of pairs ranked right, the mean margin and each side's mean."""
    chosen, rejected = sg(chosen), sg(rejected)
    return {
        "accuracy": masked_mean((chosen > rejected).astype(chosen.dtype), weights),
        "reward_margin": masked_mean(chosen - rejected, weights),
        "chosen_reward": masked_mean(chosen, weights),
        "rejected_reward": masked_mean(rejected, weights),
    }


def bradley_terry_loss(
    chosen_rewards: chex.Array,
    rejected_rewards: chex.Array,
    margin: chex.Array | None = None,
    center_coef: chex.Numeric = 0.0,
    weights: chex.Array | None = None,
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """Reward-model loss under the Bradley–Terry model P(y_c ≻ y_r) = σ(r_c − r_r):

    L = mean_w(−log σ(r_c − r_r − m)) + c · mean_w((r_c + r_r)²)

    `chosen_rewards` r_c and `rejected_rewards` r_r `[B]`; `margin` m (TRL's per-pair margin,
    `[B]` or a scalar; default 0) asks the chosen reward to lead by at least m; `center_coef`
    c ≥ 0 (TRL's `center_rewards_coefficient`) pulls the rewards towards mean zero, which
    the preference term alone leaves free. Returns `(L, aux)`, `aux` holding `accuracy`
    (share of pairs with r_c > r_r), `reward_margin` (mean r_c − r_r), `chosen_reward`
    and `rejected_reward` (the means), all under `weights`.
    """
    _check_same_shape("chosen_rewards", chosen_rewards, rejected_rewards=rejected_rewards, weights=weights)
    if margin is not None and jnp.ndim(margin) != 0:
        _check_same_shape("chosen_rewards", chosen_rewards, margin=margin)
    _check_in_range("center_coef", center_coef, 0.0, np.inf)
    difference = chosen_rewards - rejected_rewards
    if margin is not None:
        difference = difference - margin
    loss = masked_mean(-jax.nn.log_sigmoid(difference), weights)
    loss = loss + center_coef * masked_mean((chosen_rewards + rejected_rewards) ** 2, weights)
    return loss, _reward_metrics(chosen_rewards, rejected_rewards, weights)


def _implicit_rewards(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    """The policy's log-ratios against the reference on each side, after the argument checks."""
    _check_same_shape("policy_chosen_logps", policy_chosen_logps, policy_rejected_logps=policy_rejected_logps,
                      ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
    check_positive("beta", beta)
    return policy_chosen_logps - sg(ref_chosen_logps), policy_rejected_logps - sg(ref_rejected_logps)


def dpo_loss(
    policy_chosen_logps: chex.Array,
    policy_rejected_logps: chex.Array,
    ref_chosen_logps: chex.Array,
    ref_rejected_logps: chex.Array,
    beta: chex.Numeric,
    label_smoothing: chex.Numeric = 0.0,
    weights: chex.Array | None = None,
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """Direct Preference Optimisation (Rafailov et al., 2023), not PureJaxRL's discovered
    policy optimisation: the Bradley–Terry loss with the implicit reward β log(π/π_ref).

    h = (log π(y_c) − log π_ref(y_c)) − (log π(y_r) − log π_ref(y_r))
    L = mean_w(−(1 − ε) log σ(β h) − ε log σ(−β h))

    ε = `label_smoothing` in [0, 0.5): 0 is DPO; ε > 0 is conservative DPO (cDPO, Mitchell,
    2023), which assumes each label is flipped with probability ε, so the loss stops pushing
    once σ(β h) = 1 − ε. All log-probabilities `[B]` (whole sequences: sums of token
    log-probabilities, `sequence_log_prob`); `beta` β > 0 (may be traced, e.g. under `vmap`).
    Returns `(L, aux)`, `aux` holding `accuracy` (share with h > 0), `chosen_reward` and
    `rejected_reward` (means of the implicit rewards β (log π − log π_ref)) and
    `reward_margin` (the mean of their difference, β h), all under `weights`.
    """
    chosen, rejected = _implicit_rewards(policy_chosen_logps, policy_rejected_logps,
                                         ref_chosen_logps, ref_rejected_logps, beta)
    _check_in_range("label_smoothing", label_smoothing, 0.0, 0.5)
    _check_same_shape("policy_chosen_logps", policy_chosen_logps, weights=weights)
    logits = beta * (chosen - rejected)
    losses = -(1.0 - label_smoothing) * jax.nn.log_sigmoid(logits) - label_smoothing * jax.nn.log_sigmoid(-logits)
    return masked_mean(losses, weights), _reward_metrics(beta * chosen, beta * rejected, weights)


def ipo_loss(
    policy_chosen_logps: chex.Array,
    policy_rejected_logps: chex.Array,
    ref_chosen_logps: chex.Array,
    ref_rejected_logps: chex.Array,
    beta: chex.Numeric,
    weights: chex.Array | None = None,
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """Identity preference optimisation, IPO (Azar et al., 2023): a squared loss that drives
    the log-ratio margin to a finite target instead of to infinity as DPO's does.

    h = (log π(y_c) − log π_ref(y_c)) − (log π(y_r) − log π_ref(y_r))
    L = mean_w((h − 1/(2β))²)

    As in TRL, the log-probabilities should be length-averaged: each sequence's mean token
    log-probability (`sequence_log_prob(..., average=True)`), so that the target 1/(2β) does
    not depend on the completions' lengths. All `[B]`; `beta` β > 0 (may be traced). Returns
    `(L, aux)` with the metrics of `dpo_loss` (implicit rewards β (log π − log π_ref)).
    """
    chosen, rejected = _implicit_rewards(policy_chosen_logps, policy_rejected_logps,
                                         ref_chosen_logps, ref_rejected_logps, beta)
    _check_same_shape("policy_chosen_logps", policy_chosen_logps, weights=weights)
    losses = (chosen - rejected - 1.0 / (2.0 * beta)) ** 2
    return masked_mean(losses, weights), _reward_metrics(beta * chosen, beta * rejected, weights)


def sequence_log_prob(token_log_probs: chex.Array, mask: chex.Array | None = None, average: bool = False) -> chex.Array:
    """A completion's log-probability from its tokens' `[B, T]` → `[B]`:

    sum:      log π(y) = Σ_t m_t log π(y_t | y_<t)          (DPO)
    average:  Σ_t m_t log π(y_t | y_<t) / Σ_t m_t           (IPO, as in TRL)

    `mask` `[B, T]` (1 on the completion's tokens, 0 on padding; default all ones). Padded
    entries are ignored, even if they hold −inf or NaN; a row with no token gives 0.
    """
    chex.assert_rank(token_log_probs, 2)
    if mask is None:
        mask = jnp.ones(token_log_probs.shape, bool)
    _check_same_shape("token_log_probs", token_log_probs, mask=mask)
    mask = jnp.asarray(mask)
    total = jnp.where(mask != 0, token_log_probs * mask, 0.0).sum(axis=-1)
    if not average:
        return total
    return total / jnp.maximum(jnp.asarray(mask, token_log_probs.dtype).sum(axis=-1), 1.0)
