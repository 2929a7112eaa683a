"""REINFORCE: the Monte-Carlo policy gradient (Williams, 1992).

One iteration: reset every environment, play each one's episode to its end
(`num_steps` is the window; steps after the episode ended are simulated but
masked out), then take one Adam step on

    L = −mean_alive(log π(a_t|s_t) · (G − b)) − ent_coef · entropy  [+ vf_coef · value_loss]

`return_type` picks G: "episode" uses the whole episode's discounted return G_0 at
every step; "reward_to_go" uses G_t = Σ_{k≥t} γ^{k−t} r_k, which drops the rewards
that the action could not have caused. `baseline` picks b: "none", "batch_mean"
(the mean of G over the batch's alive steps) or "value" (a learned critic V(s_t),
regressed onto G; where an episode is cut by a time limit or by the window, G
bootstraps from the critic).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.advantages import masked_normalize
from pgjax.algorithms import acting, build, episodic, evaluation, presets, scan
from pgjax.algorithms.build import TrainState
from pgjax.algorithms.config import (
    BOOL,
    NON_NEGATIVE,
    EpisodicConfig,
    Rule,
    config_dataclass,
    hyper,
    static,
)

RETURN_TYPES = ("episode", "reward_to_go")
BASELINES = ("none", "batch_mean", "value")


@config_dataclass
class Config(EpisodicConfig):
    """REINFORCE (Williams, 1992) on whole episodes: `return_type` chooses the episode's return or reward-
    to-go, `baseline` the b subtracted from it (none, the batch mean or a learned V(s)).
    """

    return_type: str = static(
        "reward_to_go", Rule(lambda v: v in RETURN_TYPES, f"must be one of {', '.join(RETURN_TYPES)}"),
        "G: the whole episode's return, or the return from each step on",
    )
    baseline: str = static(
        "value", Rule(lambda v: v in BASELINES, f"must be one of {', '.join(BASELINES)}"),
        "b subtracted from G: none, the batch mean, or a learned critic V(s)",
    )
    normalize_advantages: bool = static(True, BOOL, "standardise G − b over the batch's alive steps")
    vf_coef: float = hyper(0.5, NON_NEGATIVE, "value loss coefficient (baseline='value')")

    PRESETS = presets.REINFORCE


def init(config: Config, key) -> TrainState:
    """A fresh `TrainState` for `config`: network and optimiser initialised from `key`, the
    environments reset."""
    return build.init_state(config, key)


def returns(config: Config, episodes) -> jax.Array:
    """G `[T, num_envs]`: reward-to-go, or the episode's return G_0 at every step."""
    reward_to_go = episodic.reward_to_go(config, episodes)
    if config.return_type == "episode":
        return jnp.broadcast_to(reward_to_go[0], reward_to_go.shape) * episodes.alive
    return reward_to_go


def update(config: Config, state: TrainState):
    """One iteration: reset every environment and roll one episode each for up to `num_steps` steps,
    compute the returns and the advantages (G − b), one masked policy-gradient step (and the
    critic's, with `baseline='value'`).

    Returns `(state, metrics)`, metrics a dict of scalars.
    """
    use_critic = config.baseline == "value"
    setup = build.build(config)
    state, episodes = acting.collect_episodes(config, setup, state, use_critic=use_critic)
    targets = returns(config, episodes)
    if config.baseline == "value":
        advantages = targets - episodes.value
    elif config.baseline == "batch_mean":
        advantages = targets - (targets * episodes.alive).sum() / jnp.maximum(episodes.alive.sum(), 1.0)
    else:
        advantages = targets
    if config.normalize_advantages:
        advantages = masked_normalize(advantages, episodes.alive)
    state, learn_metrics = episodic.masked_policy_gradient_step(
        config, setup, state, episodes, advantages, targets if use_critic else None
    )
    return acting.finish_iteration(config, state, episodes, learn_metrics)


# The rest of the protocol (`pgjax.runs.protocol.Algorithm`), shared by every algorithm.
train, train_batch = scan.entry_points(init, update)
evaluate = evaluation.evaluate
