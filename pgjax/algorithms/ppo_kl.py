"""PPO with an adaptive KL penalty instead of clipping (Schulman et al., 2017, §4).

One iteration: roll out, estimate advantages with GAE, then take
`update_epochs × num_minibatches` Adam steps on

    L = −mean(r · A) + β · mean KL(π_old ‖ π) + vf_coef · value_loss − ent_coef · entropy,
    r = π(a|s) / π_old(a|s).

The KL is exact (both distributions evaluated on the batch's states), not a
sample estimate. After the epochs the KL actually reached, d, sets the next
iteration's β: doubled if d > 1.5 · target_kl, halved if d < target_kl / 1.5.
β therefore changes during training and lives in the `TrainState`.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
from flax import struct

from pgjax import losses
from pgjax.algorithms import acting, build, evaluation, learning, presets, scan
from pgjax.algorithms.config import (
    NON_NEGATIVE,
    POSITIVE,
    EpochsConfig,
    config_dataclass,
    hyper,
)


@struct.dataclass
class TrainState(build.TrainState):
    """`pgjax.algorithms.build.TrainState` and the adaptive penalty's current β, `kl_coef`."""

    kl_coef: chex.Array  # β for the coming iteration


@config_dataclass
class Config(EpochsConfig):
    """PPO with an adaptive KL penalty in place of the clip (Schulman et al., 2017, §4): β is doubled or
    halved each iteration towards `target_kl`, starting from `init_kl_coef`.
    """

    target_kl: float = hyper(0.01, POSITIVE, "KL(π_old ‖ π) per iteration that the adaptive β aims for")
    init_kl_coef: float = hyper(1.0, POSITIVE, "β at the first iteration")
    ent_coef: float = hyper(0.0, NON_NEGATIVE, "entropy bonus coefficient")

    PRESETS = presets.PPO_KL


def init(config: Config, key) -> TrainState:
    """A fresh `TrainState` for `config`: network and optimiser initialised from `key`, the
    environments reset. `kl_coef` starts at `init_kl_coef`."""
    return build.init_state(
        config, key, state_cls=TrainState, kl_coef=jnp.asarray(config.init_kl_coef, jnp.float32)
    )


def update(config: Config, state: TrainState):
    """One iteration: roll out, estimate advantages with GAE, take minibatch steps on the importance-
    weighted surrogate plus β·KL(π_old ‖ π), then set the next β from the KL the iteration moved the
    policy.

    Returns `(state, metrics)`, metrics a dict of scalars.
    """
    setup = build.build(config)
    state, trajectory, carry = acting.collect(config, setup, state)
    batch = learning.advantage_batch(config, setup, trajectory, carry)
    batch = batch.replace(old_policy=learning.replay(setup, state.params, batch, policy_only=True))

    def penalised_surrogate(dist, batch, advantages):
        surrogate, aux = losses.importance_weighted_loss(
            dist.log_prob(batch.action), batch.log_prob, advantages
        )
        return surrogate + losses.kl_penalty(batch.old_policy.kl(dist), state.kl_coef), aux

    loss_fn = learning.actor_critic_loss(config, setup, penalised_surrogate)
    state, learn_metrics = learning.descend(
        config, setup, state, loss_fn, batch, config.update_epochs, config.num_minibatches
    )
    # The KL this iteration actually moved the policy, on the whole batch, sets the next β.
    kl = batch.old_policy.kl(learning.replay(setup, state.params, batch, policy_only=True)).mean()
    kl_coef = losses.adaptive_kl_coef(state.kl_coef, kl, config.target_kl)
    return acting.finish_iteration(
        config, state.replace(kl_coef=kl_coef), trajectory, {**learn_metrics, "kl": kl, "kl_coef": kl_coef}
    )


# The rest of the protocol (`pgjax.runs.protocol.Algorithm`), shared by every algorithm.
train, train_batch = scan.entry_points(init, update)
evaluate = evaluation.evaluate
