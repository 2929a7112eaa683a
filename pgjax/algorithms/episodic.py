"""What the Monte-Carlo methods (REINFORCE, RLOO, GRPO) share: returns of whole episodes,
the layout learning replays them in, and the masked policy-gradient step over their steps.

Every environment's window starts with a fresh episode (`collect_episodes` resets them
all), so a recurrent network (the GRU, the transformer) replays each environment's window
from a fresh carry: learning data is then env-major, one row per window, and minibatches
are whole windows; a feed-forward network's steps are flattened and shuffled singly."""

from __future__ import annotations

import chex

from pgjax import losses
from pgjax.advantages import discounted_returns
from pgjax.algorithms.build import Setup, TrainState
from pgjax.algorithms.learning import gradient_step, learning_rate
from pgjax.layout import flatten_time
from pgjax.layout import swap_time as env_major
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


def learning_layout(setup: Setup, episodes, fields):
    """`(fields, carry, reset)` laid out for replay: time-major `fields` (a tree of `[T, N,
    ...]`) flattened to `[T·N, ...]` for a feed-forward network (empty carry and reset),
    or env-major `[N, T, ...]` with fresh carries `[N]` and the windows' resets."""
    if not setup.network.recurrent:
        return flatten_time(fields), (), ()
    num_envs = episodes.alive.shape[1]
    return env_major(fields), setup.network.initial_carry(num_envs), env_major(episodes.reset)


def replay(setup: Setup, params, carry, obs, reset, policy_only: bool = False):
    """`(distribution, value)` of `params` on rows laid out by `learning_layout`: windows
    `[N, T]` from fresh carries, or single steps when feed-forward; only the distribution
    when `policy_only` (critic-free losses skip the value head). A network that can replay
    a window's first episode in one pass (`unroll_episodes`: the transformer, one causal
    pass per episode) does so; the others step through the window (`unroll`)."""
    network = setup.network
    if network.recurrent and hasattr(network, "unroll_episodes"):
        dist, values = network.unroll_episodes(params, obs, reset)
        return dist if policy_only else (dist, values)
    if policy_only:
        return network.unroll_policy(params, carry, obs, reset)
    _, dist, values = network.unroll(params, carry, obs, reset)
    return dist, values


def replay_episodes(setup: Setup, params, episodes):
    """`(distribution, value)` `[T, N]` of `params` on every step of the episodes, each
    environment's window replayed from a fresh carry (one batched pass when feed-forward)."""
    network = setup.network
    if not network.recurrent:
        return replay(setup, params, (), episodes.obs, episodes.reset)
    dist, values = replay(setup, params, network.initial_carry(episodes.alive.shape[1]),
                          env_major(episodes.obs), env_major(episodes.reset))
    return env_major(dist), env_major(values)


def step_scale(config, episodes) -> chex.Array:
    """`[T, num_envs]` factors that make a mean over the alive steps the loss aggregation
    `config.loss_agg_mode` over the episodes (each environment's first episode is one
    sequence; see `pgjax.losses.aggregation_scale`). All ones for token-mean."""
    return aggregation_scale(episodes.alive.T, config.loss_agg_mode).T


def masked_policy_gradient_step(config, setup: Setup, state: TrainState, episodes, advantages, value_targets=None):
    """One Adam step on the Monte-Carlo policy-gradient loss over the alive steps:

        L = −mean_alive(log π(a|s) · A) − ent_coef · mean_alive(H[π(·|s)])
            [+ vf_coef · ½ mean_alive((V(s) − y)²)   when `value_targets` y are given]

    `advantages`, `value_targets` `[T, num_envs]`; every mean is under the mask
    `episodes.alive`, so the steps after each first episode count for nothing, and the
    policy term is aggregated over the episodes by `config.loss_agg_mode` (`step_scale`).
    Returns `(state, metrics)`.
    """
    chex.assert_equal_shape([advantages, episodes.alive])
    step_size = learning_rate(config, state.iteration)
    alive = episodes.alive
    scaled_advantages = advantages * step_scale(config, episodes)

    def loss_fn(params, episodes):
        dist, values = replay_episodes(setup, params, episodes)
        policy_loss = losses.policy_gradient_loss(dist.log_prob(episodes.action), scaled_advantages, mask=alive)
        entropy = losses.masked_mean(dist.entropy(), alive)
        loss = policy_loss - config.ent_coef * entropy
        metrics = {"policy_loss": policy_loss, "entropy": entropy}
        if value_targets is not None:
            value_loss = losses.value_loss(values, value_targets, mask=alive)
            loss = loss + config.vf_coef * value_loss
            metrics["value_loss"] = value_loss
        return loss, metrics

    step = gradient_step(loss_fn, setup.optimizer, step_size)
    (params, opt_state), metrics = step((state.params, state.opt_state), episodes)
    return state.replace(params=params, opt_state=opt_state), {**metrics, "learning_rate": step_size}
