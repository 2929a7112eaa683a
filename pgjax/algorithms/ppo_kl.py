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
from pgjax.algorithms import core
from pgjax.algorithms.config import NON_NEGATIVE, POSITIVE, EpochsConfig, hyper
from pgjax.algorithms.core import evaluate  # noqa: F401  (part of the protocol)
from pgjax.networks import ActorCritic

_CONTINUOUS = dict(normalize_observations=True, scale_rewards=True, ent_coef=0.0)


@struct.dataclass
class TrainState(core.TrainState):
    kl_coef: chex.Array  # β for the coming iteration


@struct.dataclass
class Config(EpochsConfig):
    target_kl: float = hyper(0.01, POSITIVE, "KL(π_old ‖ π) per iteration that the adaptive β aims for")
    init_kl_coef: float = hyper(1.0, POSITIVE, "β at the first iteration")
    ent_coef: float = hyper(0.0, NON_NEGATIVE, "entropy bonus coefficient")

    PRESETS = {
        "CartPole-v1": dict(num_envs=8, num_steps=128, learning_rate=1e-3, total_timesteps=1_000_000),
        "Acrobot-v1": dict(num_envs=16, num_steps=128, learning_rate=1e-3, total_timesteps=500_000),
        "Catch-bsuite": dict(num_envs=8, num_steps=128, learning_rate=1e-3, total_timesteps=200_000),
        "Pendulum-v1": dict(
            _CONTINUOUS, num_envs=16, num_steps=256, total_timesteps=1_000_000, learning_rate=1e-3,
            update_epochs=10, num_minibatches=32, gamma=0.95, gae_lambda=0.95,
        ),
    }


def init(config: Config, key) -> TrainState:
    return core.init_state(
        config, key, state_cls=TrainState, kl_coef=jnp.asarray(config.init_kl_coef, jnp.float32)
    )


def update(config: Config, state: TrainState):
    state, trajectory, network = core.collect(config, state)
    old_policy = network.apply(state.params, trajectory.obs, method=ActorCritic.policy)
    batch = core.advantage_batch(config, trajectory, old_policy)

    def penalised_surrogate(dist, batch, advantages):
        surrogate, aux = losses.importance_weighted_loss(
            dist.log_prob(batch.action), batch.log_prob, advantages
        )
        return surrogate + losses.kl_penalty(batch.old_policy.kl(dist), state.kl_coef), aux

    loss_fn = core.actor_critic_loss(config, network, penalised_surrogate)
    state, learn_metrics = core.descend(config, state, loss_fn, batch, config.update_epochs, config.num_minibatches)
    # The KL this iteration actually moved the policy, on the whole batch, sets the next β.
    new_policy = network.apply(state.params, batch.obs, method=ActorCritic.policy)
    kl = batch.old_policy.kl(new_policy).mean()
    kl_coef = losses.adaptive_kl_coef(state.kl_coef, kl, config.target_kl)
    state, metrics = core.episode_metrics(config, state.replace(kl_coef=kl_coef), trajectory)
    return state, {**metrics, **learn_metrics, "kl": kl, "kl_coef": kl_coef}


train, train_batch = core.entry_points(init, update)
