"""Proximal policy optimisation with the clipped surrogate (Schulman et al., 2017).

One iteration: roll out `num_steps × num_envs` transitions, estimate advantages
with GAE, then take `update_epochs × num_minibatches` Adam steps on

    L = clipped_surrogate + vf_coef · value_loss − ent_coef · entropy.
"""

from __future__ import annotations

from pgjax import losses
from pgjax.algorithms import acting, build, evaluation, learning, presets, scan
from pgjax.algorithms.build import TrainState
from pgjax.algorithms.config import (
    BOOL,
    POSITIVE,
    EpochsConfig,
    config_dataclass,
    hyper,
    static,
)


@config_dataclass
class Config(EpochsConfig):
    """PPO with the clipped surrogate (Schulman et al., 2017) and a GAE critic. The fields shared by every
    actor-critic algorithm are in `pgjax.algorithms.config`; PPO adds `clip_eps` and `clip_value`.
    """

    clip_value: bool = static(True, BOOL, "clip the value update around the old values by clip_eps")
    clip_eps: float = hyper(0.2, POSITIVE, "surrogate clip range ε")

    PRESETS = presets.PPO


def init(config: Config, key) -> TrainState:
    """A fresh `TrainState` for `config`: network and optimiser initialised from `key`, the
    environments reset."""
    return build.init_state(config, key)


def update(config: Config, state: TrainState):
    """One iteration: roll out, estimate advantages with GAE, then `update_epochs` passes of
    `num_minibatches` minibatch steps on the clipped surrogate, the value loss and the entropy
    bonus.

    Returns `(state, metrics)`, metrics a dict of scalars.
    """
    setup = build.build(config)
    state, trajectory, carry = acting.collect(config, setup, state)
    batch = learning.advantage_batch(config, setup, trajectory, carry)

    def clipped_surrogate(dist, batch, advantages):
        return losses.clipped_surrogate_loss(
            dist.log_prob(batch.action), batch.log_prob, advantages, config.clip_eps
        )

    loss_fn = learning.actor_critic_loss(config, setup, clipped_surrogate, config.clip_eps if config.clip_value else None)
    state, learn_metrics = learning.descend(
        config, setup, state, loss_fn, batch, config.update_epochs, config.num_minibatches
    )
    return acting.finish_iteration(config, state, trajectory, learn_metrics)


# The rest of the protocol (`pgjax.runs.protocol.Algorithm`), shared by every algorithm.
train, train_batch = scan.entry_points(init, update)
evaluate = evaluation.evaluate
