"""Exact quantities over an enumerated answer space, for tasks small enough to list every
completion of a prompt: the KL-regularised optimum, exact KL, the exact best-of-n policy, and
the functional forms of reward over-optimisation (Gao et al., 2023).

Arrays hold one entry per possible completion on the last axis `[..., K]` (any leading batch,
e.g. of prompts); log-probabilities are normalised over that axis, and −inf marks a completion
of probability 0.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

from pgjax.checks import check_choice, check_positive

GAO_FORMS = ("bon", "rl")


def tilted_policy(ref_log_probs: chex.Array, rewards: chex.Array, beta: chex.Numeric) -> chex.Array:
    """The optimum of the KL-regularised objective max_π E_π[r] − β KL(π ‖ π_ref):

    π*_β(y) = π_ref(y) exp(r(y)/β) / Z,   log π*_β = log_softmax(log π_ref + r/β)

    `ref_log_probs` and `rewards` `[..., K]`; `beta` β > 0 (may be traced). Large β gives
    back π_ref; β → 0 puts all mass on the best completions. Returns log π*_β `[..., K]`.
    """
    chex.assert_equal_shape([ref_log_probs, rewards])
    check_positive("beta", beta)
    return jax.nn.log_softmax(ref_log_probs + rewards / beta, axis=-1)


def kl_divergence(log_p: chex.Array, log_q: chex.Array) -> chex.Array:
    """Exact KL(p ‖ q) = Σ_y p(y) (log p(y) − log q(y)) over the last axis, `[..., K]` → `[...]`.

    Completions with p(y) = 0 contribute 0 (not 0·(−inf) = NaN), in value and gradient; one
    with p(y) > 0 = q(y) makes the KL infinite.
    """
    chex.assert_equal_shape([log_p, log_q])
    support = log_p > -jnp.inf
    log_ratio = jnp.where(support, log_p - jnp.where(support, log_q, 0.0), 0.0)
    return jnp.sum(jnp.where(support, jnp.exp(log_p) * log_ratio, 0.0), axis=-1)


def _best_of_n_log_probs(ref_log_probs: chex.Array, scores: chex.Array, n: chex.Numeric) -> chex.Array:
    """`best_of_n_log_probs` for one prompt `[K]`."""
    size = ref_log_probs.shape[-1]
    order = jnp.argsort(scores)
    log_probs, sorted_scores = ref_log_probs[order], scores[order]
    # Completion i's tie group is sorted[first[i]:last[i]] (all completions with its score).
    first = jnp.searchsorted(sorted_scores, sorted_scores, side="left")
    last = jnp.searchsorted(sorted_scores, sorted_scores, side="right")
    # log π_ref(score = s): a log-sum-exp within each group, exact however small its terms.
    group_max = jax.ops.segment_max(log_probs, first, num_segments=size)[first]
    group_max = jnp.where(jnp.isfinite(group_max), group_max, 0.0)
    log_group = group_max + jnp.log(jax.ops.segment_sum(jnp.exp(log_probs - group_max), first, num_segments=size)[first])
    # F(s) = P_ref(score ≤ s), from below as a cumulative log-sum-exp, and from above as
    # log1p(−P_ref(score > s)), which keeps its relative accuracy near 1, where n·log F(s)
    # needs it (float32's spacing near 1 alone would cost n·6e-8 in F(s)^n).
    no_mass = jnp.full((1,), -jnp.inf, log_probs.dtype)
    log_below = jnp.concatenate([no_mass, jax.lax.cumlogsumexp(log_probs)])[last]
    log_above = jnp.concatenate([jax.lax.cumlogsumexp(log_probs, reverse=True), no_mass])[last]
    above = jnp.exp(log_above)
    log_cdf = jnp.where(above < 0.5, jnp.log1p(-jnp.minimum(above, 0.5)), log_below)
    # F(s)^n − F(s⁻)^n = F(s)^n (1 − (1 − G/F(s))^n), G = π_ref(score = s), in logs.
    share = jnp.where(log_group > -jnp.inf, jnp.exp(log_group - jnp.where(log_cdf > -jnp.inf, log_cdf, 0.0)), 0.0)
    log_tail = jnp.log1p(-jnp.minimum(share, 1.0))
    log_best_score = n * log_cdf + jnp.log(-jnp.expm1(n * log_tail))
    sorted_result = jnp.where(log_probs > -jnp.inf, log_probs - log_group + log_best_score, -jnp.inf)
    return sorted_result[jnp.argsort(order)]


def best_of_n_log_probs(ref_log_probs: chex.Array, scores: chex.Array, n: chex.Numeric) -> chex.Array:
    """The exact distribution of best-of-n: draw n completions from π_ref, keep the best by `scores`.

    With F(s) = P_ref(score ≤ s) and F(s⁻) = P_ref(score < s), the best of n independent
    draws scores s with probability F(s)ⁿ − F(s⁻)ⁿ, and that mass goes to the completions
    scoring exactly s in proportion to their reference probability:

    P_BoN(y) = π_ref(y) / π_ref(score = r(y)) · (F(r(y))ⁿ − F(r(y)⁻)ⁿ)

    Ties: this is best-of-n under any tie rule that looks only at the draws' scores and
    positions, never at which completions they are: keep the first draw with the top score,
    or a uniformly random one of them (the tied draws are independent draws from π_ref given
    their score). A rule that prefers one completion over another of equal score (the
    lowest index, the most likely) gives a different distribution.

    `ref_log_probs` and `scores` `[..., K]`; `n` ≥ 1 a number of draws (a Python int or a
    traced scalar; n = 1 gives π_ref). Computed in log space (F(s) near 1 through
    log1p of the mass above s, the split within ties through a log-sum-exp), so that small
    probabilities survive and the result sums to 1 in float32 for n in the thousands.
    Returns log P_BoN `[..., K]`.
    """
    chex.assert_equal_shape([ref_log_probs, scores])
    check_positive("n", n)
    n = jnp.asarray(n, ref_log_probs.dtype)
    return jnp.vectorize(_best_of_n_log_probs, signature="(k),(k),()->(k)")(ref_log_probs, scores, n)


def best_of_n_kl_bound(n: chex.Numeric) -> chex.Array:
    """KL(π_BoN ‖ π_ref) ≤ log n − (n − 1)/n (Beirami et al., 2024), the formula of Stiennon
    et al. (2020), which is exact for a continuous score distribution. On a finite answer space
    the KL is below it even without ties (each completion is an atom: for n → ∞ best-of-n
    keeps the best completion y*, at KL −log π_ref(y*)), and approaches it as every π_ref(y) ≪ 1/n.
    `n` ≥ 1, any shape; returns that shape."""
    n = jnp.asarray(n, jnp.float32)
    return jnp.log(n) - (n - 1.0) / n


def fit_gao(d, gold, form: str) -> dict[str, float]:
    """Least-squares fit of Gao et al.'s (2023) scaling forms for reward over-optimisation,
    in closed form (both are linear in α and β); host NumPy, not traced.

    bon:  gold(d) ≈ d (α − β d)         (best-of-n)
    rl:   gold(d) ≈ d (α − β log d)     (RL against the proxy)

    `d` = √KL(π ‖ π_ref) `[N]` and `gold` `[N]` the gold reward's gain over the reference's.
    Neither form has an intercept (both are 0 at d = 0): points with d = 0 are kept for
    "bon", and dropped for "rl", where log d is undefined. Returns a dict: `alpha`, `beta`,
    `r2` (1 − Σ residual² / Σ (gold − mean gold)² over the points fitted; it can be negative,
    as the forms pass through the origin) and `num_points`.
    """
    check_choice("form", form, GAO_FORMS)
    d, gold = np.asarray(d, np.float64).ravel(), np.asarray(gold, np.float64).ravel()
    if d.shape != gold.shape:
        raise ValueError(f"gold: must have the shape of d {d.shape}, got {gold.shape}")
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise ValueError("d: must be finite and ≥ 0 (d = √KL)")
    if form == "rl":
        d, gold = d[d > 0], gold[d > 0]
        features = np.stack([d, -d * np.log(d)], axis=1)
    else:
        features = np.stack([d, -d * d], axis=1)
    if len(d) < 2:
        raise ValueError(f"d: needs at least 2 points to fit the {form!r} form, got {len(d)}")
    (alpha, beta), *_ = np.linalg.lstsq(features, gold, rcond=None)
    residual = gold - features @ np.array([alpha, beta])
    total = np.sum((gold - gold.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / total if total > 0 else float(np.sum(residual**2) == 0)
    return {"alpha": float(alpha), "beta": float(beta), "r2": float(r2), "num_points": len(d)}
