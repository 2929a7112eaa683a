"""Group-relative policy optimisation (Shao et al., 2024), for environments and token tasks.

One iteration: `num_groups` groups of `group_size` = K episodes, each group
started from one shared state (as in RLOO; on a token task, one shared prompt). Each
episode's return is standardised within its group, A_{g,k} = (R_{g,k} − mean_g R) /
(std_g R + ε), and given to every step of the episode; no critic. Then `update_epochs ×
num_minibatches` Adam steps on

    L = clipped_surrogate(π_θ, π_old, A) + kl_coef · KL(π_θ ‖ π_ref) − ent_coef · entropy,

means over the steps of the episodes (not the masked steps after them), the surrogate and
the KL aggregated over the episodes by `loss_agg_mode`. π_ref is the initial policy,
frozen in the `TrainState`. The variants of the LLM literature are switches:

- Dr. GRPO (Liu et al., 2025): `scale_by_std=False, loss_agg_mode="seq-mean-token-sum-norm"`;
- DAPO's clip-higher (Yu et al., 2025): `clip_higher=0.08` (ε_high = clip_eps + 0.08);
- REINFORCE++ (Hu, 2025): `baseline="batch"` (per-step returns-to-go standardised over
  every step of the batch instead of within groups), usually with `kl_in_reward=True`;
- the KL: `kl_estimator` exact (from both distributions) or Schulman's k1, k2, k3 from
  the sampled actions; in the loss per step (GRPO) or, with `kl_in_reward`, subtracted
  from the rewards of the steps, so the episode's return carries it (PPO-for-RLHF, RLOO).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from pgjax import losses
from pgjax.advantages import group_normalized_advantages, masked_normalize
from pgjax.algorithms import (
    acting,
    build,
    episodic,
    evaluation,
    learning,
    presets,
    scan,
)
from pgjax.algorithms.config import (
    BOOL,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    GroupConfig,
    config_dataclass,
    hyper,
    one_of,
    static,
)
from pgjax.losses import KL_ESTIMATORS, clip_statistics, kl_estimate

BASELINES = ("group", "batch")


@config_dataclass
class Config(GroupConfig):
    """GRPO (Shao et al., 2024) and its variants: group-relative advantages (`scale_by_std=False` is Dr.
    GRPO; `baseline='batch'` is REINFORCE++), the clipped surrogate with clip-higher, and a KL leash
    to the initial policy (`kl_coef`, `kl_estimator`, `kl_in_reward`).
    """

    update_epochs: int = static(4, POSITIVE_INT, "passes over each batch")
    num_minibatches: int = static(4, POSITIVE_INT, "minibatches per pass")
    clip_eps: float = hyper(0.2, POSITIVE, "surrogate clip range ε (ε_low)")
    clip_higher: float = hyper(0.0, NON_NEGATIVE, "DAPO's clip-higher: ε_high = clip_eps + clip_higher (DAPO: 0.08)")
    kl_coef: float = hyper(0.0, NON_NEGATIVE, "β, weight of the KL penalty to the reference (initial) policy")
    kl_estimator: str = static(
        "exact", one_of(("exact",) + KL_ESTIMATORS),
        "KL(π‖π_ref) per step: exact (from the two distributions) or sampled-action estimators k1, k2, k3",
    )
    kl_in_reward: bool = static(False, BOOL, "subtract β·KL from the rewards (sequence level) instead of the loss")
    scale_by_std: bool = static(True, BOOL, "divide by the group's std of returns (False: Dr. GRPO)")
    baseline: str = static(
        "group", one_of(BASELINES),
        "group: GRPO's group-relative advantage; batch: REINFORCE++ (returns-to-go standardised over the batch)",
    )
    advantage_eps: float = hyper(1e-8, POSITIVE, "ε added to the group std of the returns")

    minibatches = property(lambda self: self.num_minibatches)
    steps_per_iteration = property(lambda self: self.update_epochs * self.num_minibatches)

    PRESETS = presets.GRPO


@struct.dataclass
class TrainState(build.TrainState):
    """`pgjax.algorithms.build.TrainState` and the frozen reference parameters of the KL penalty."""

    reference_params: Any  # π_ref of the KL penalty: the initial parameters, never updated


def init(config: Config, key) -> TrainState:
    """A fresh `TrainState` for `config`: network and optimiser initialised from `key`, the
    environments reset. The reference policy is the initial parameters."""
    state = build.init_state(config, key, state_cls=TrainState, reference_params=None)
    return state.replace(reference_params=state.params)


def step_kl(config: Config, dist, reference, action):
    """KL(π ‖ π_ref) per step `[...]`, exact or estimated from the sampled `action`."""
    if config.kl_estimator == "exact":
        return dist.kl(reference)
    return kl_estimate(dist.log_prob(action), reference.log_prob(action), config.kl_estimator)


def advantages_of(config: Config, episodes) -> jax.Array:
    """The advantages `[T, num_envs]` of the episodes' steps."""
    if config.baseline == "group":
        returns = episodic.group_returns(config, episodes)
        advantages = group_normalized_advantages(returns, config.advantage_eps, config.scale_by_std)
        return jnp.broadcast_to(advantages.reshape(-1), episodes.alive.shape)
    return masked_normalize(episodic.reward_to_go(config, episodes), episodes.alive)


def update(config: Config, state: TrainState):
    """One iteration: collect groups of episodes, group-relative advantages, then `update_epochs` passes of
    `num_minibatches` clipped-surrogate steps with the KL penalty to the reference policy.

    Returns `(state, metrics)`, metrics a dict of scalars.
    """
    setup = build.build(config)
    state, episodes = acting.collect_episodes(config, setup, state, group_size=config.group_size)
    # π_ref never changes within an iteration: evaluate it once on the batch, not in every minibatch step.
    reference, _ = episodic.replay_episodes(setup, state.reference_params, episodes)
    # TRL's reward statistics are of the task's rewards, before any KL is folded into them.
    rewards = episodic.group_returns(config, episodes)
    if config.kl_in_reward:
        # The behaviour policy's KL: its log-probabilities were kept by the rollout, so only
        # the exact KL (which needs its whole distribution) evaluates it again.
        if config.kl_estimator == "exact":
            behaviour_kl = episodic.replay_episodes(setup, state.params, episodes)[0].kl(reference)
        else:
            behaviour_kl = kl_estimate(episodes.log_prob, reference.log_prob(episodes.action), config.kl_estimator)
        episodes = episodes.replace(reward=episodes.reward - config.kl_coef * jax.lax.stop_gradient(behaviour_kl)
                                    * episodes.alive)
    advantages = advantages_of(config, episodes)
    # Every mean below is over the episodes' live steps, also inside a shuffled minibatch; the
    # batch's weights turn the policy terms' means into `loss_agg_mode`.
    batch = episodic.episode_batch(config, setup, episodes, advantages, reference=reference)
    clip_low, clip_high = config.clip_eps, config.clip_eps + config.clip_higher

    def loss_fn(params, batch: learning.Batch):
        dist = learning.replay(setup, params, batch, policy_only=True)
        objective, log_ratio = losses.clipped_surrogate_objective(
            dist.log_prob(batch.action), batch.log_prob, batch.advantages, clip_low, clip_high
        )
        live = batch.live
        surrogate = -losses.masked_mean(batch.weighted(objective), live)
        kl = step_kl(config, dist, batch.reference, batch.action)
        entropy = losses.masked_mean(dist.entropy(), live)
        loss = surrogate - config.ent_coef * entropy
        if not config.kl_in_reward:
            loss = loss + losses.kl_penalty(losses.masked_mean(batch.weighted(kl), live), config.kl_coef)
        return loss, {
            "policy_loss": surrogate, "reference_kl": losses.masked_mean(kl, live), "entropy": entropy,
            **clip_statistics(log_ratio, batch.advantages, clip_low, clip_high, live),
        }

    state, learn_metrics = learning.descend(
        config, setup, state, loss_fn, batch, config.update_epochs, config.num_minibatches
    )
    # TRL's names: the spread of the returns, and the share of groups that teach nothing.
    learn_metrics = {**learn_metrics, "reward_std": rewards.std(),
                     "frac_reward_zero_std": jnp.mean(rewards.std(axis=1) == 0)}
    return acting.finish_iteration(config, state, episodes, learn_metrics)


# The rest of the protocol (`pgjax.runs.protocol.Algorithm`), shared by every algorithm.
train, train_batch = scan.entry_points(init, update)
evaluate = evaluation.evaluate
