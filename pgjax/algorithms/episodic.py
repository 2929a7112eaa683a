"""What the Monte-Carlo methods (REINFORCE, RLOO, GRPO) share: returns of whole episodes,
the layout learning replays them in, and the masked policy-gradient step over their steps.

Every environment's window starts with a fresh episode (`collect_episodes` resets them
all), so a recurrent network (the GRU, the transformer) replays each environment's window
from a fresh carry: learning data (`episode_batch`, a `learning.Batch` whose weights mask
the steps after each first episode) is then env-major, one row per window, and minibatches
are whole windows; a feed-forward network's steps are flattened and shuffled singly."""

from __future__ import annotations

import chex

from pgjax import losses
from pgjax.advantages import discounted_returns
from pgjax.algorithms.build import Setup, TrainState, current_learning_rate
from pgjax.algorithms.learning import Batch, gradient_step, laid_out, replay
from pgjax.losses import aggregation_scale


def reward_to_go(config, episodes) -> chex.Array:
    """G_t of each environment's first episode `[T, num_envs]` (zero after it ended),
    bootstrapping from V(s_{t+1}) where the episode was cut (`next_value` is zero for
    critic-free methods)."""
    return discounted_returns(
        episodes.reward, episodes.terminated, episodes.truncated, config.gamma,
        bootstrap=episodes.next_value * episodes.alive,
    )


def group_returns(config, episodes) -> chex.Array:
    """R `[num_groups, group_size]`: each episode's discounted return from its first step,
    arranged by the groups that `collect_episodes(..., group_size)` reset together."""
    return reward_to_go(config, episodes)[0].reshape(config.num_groups, config.group_size)


def step_scale(config, episodes) -> chex.Array:
    """`[T, num_envs]` factors that make a mean over the alive steps the loss aggregation
    `config.loss_agg_mode` over the episodes (each environment's first episode is one
    sequence; see `pgjax.losses.aggregation_scale`). All ones for token-mean."""
    return aggregation_scale(episodes.alive.T, config.loss_agg_mode).T


def episode_batch(config, setup: Setup, episodes, advantages, shuffled: bool = True, **fields) -> Batch:
    """The learning `Batch` of the episodes: advantages `[T, num_envs]`, weights w_t = alive_t ·
    `step_scale` (the aggregation `config.loss_agg_mode` over each environment's first episode),
    and any further `fields` (`[T, num_envs, ...]`: `targets`, `reference`), every window
    starting fresh. Laid out for shuffled minibatches, or left time-major for one step on the
    whole batch (`shuffled=False`)."""
    chex.assert_equal_shape([advantages, episodes.alive])
    carry = setup.network.initial_carry(config.num_envs)
    batch = Batch(
        episodes.obs, episodes.action, episodes.log_prob, advantages, weights=episodes.alive * step_scale(config, episodes),
        reset=episodes.reset, fresh_start=True, time_major=not shuffled, **fields,
    )
    return laid_out(setup.network, batch, carry) if shuffled else batch.replace(carry=carry)


def replay_episodes(setup: Setup, params, episodes):
    """`(distribution, value)` `[T, N]` of `params` on every step of the episodes, each
    environment's window replayed from a fresh carry (one batched pass when feed-forward)."""
    carry = setup.network.initial_carry(episodes.alive.shape[1])
    return replay(setup, params, Batch(episodes.obs, reset=episodes.reset, carry=carry, fresh_start=True, time_major=True))


def masked_policy_gradient_step(config, setup: Setup, state: TrainState, episodes, advantages, value_targets=None):
    """One optimiser step on the Monte-Carlo policy-gradient loss over the alive steps:

        L = −mean_alive(w · log π(a|s) · A) − ent_coef · mean_alive(H[π(·|s)])
            [+ vf_coef · ½ mean_alive((V(s) − y)²)   when `value_targets` y are given]

    `advantages`, `value_targets` `[T, num_envs]`; every mean is over the alive steps of the
    `episode_batch`, so the steps after each first episode count for nothing, and its weights w
    aggregate the policy term over the episodes by `config.loss_agg_mode`.
    Returns `(state, metrics)`.
    """
    step_size = current_learning_rate(config, state.opt_state)
    batch = episode_batch(config, setup, episodes, advantages, shuffled=False, targets=value_targets)

    def loss_fn(params, batch: Batch):
        if value_targets is None:
            dist = replay(setup, params, batch, policy_only=True)
        else:
            dist, values = replay(setup, params, batch)
        live = batch.live
        policy_loss = losses.policy_gradient_loss(dist.log_prob(batch.action), batch.weighted(batch.advantages), mask=live)
        entropy = losses.masked_mean(dist.entropy(), live)
        loss = policy_loss - config.ent_coef * entropy
        metrics = {"policy_loss": policy_loss, "entropy": entropy}
        if value_targets is not None:
            value_loss = losses.value_loss(values, batch.targets, mask=live)
            loss = loss + config.vf_coef * value_loss
            metrics["value_loss"] = value_loss
        return loss, metrics

    (params, opt_state), metrics = gradient_step(loss_fn, setup.optimizer)((state.params, state.opt_state), batch)
    return state.replace(params=params, opt_state=opt_state), {**metrics, "learning_rate": step_size}
