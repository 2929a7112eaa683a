"""Proximal policy optimisation with the clipped surrogate (Schulman et al., 2017).

One iteration: roll out `num_steps × num_envs` transitions, estimate advantages
with GAE, then take `update_epochs × num_minibatches` Adam steps on

    L = clipped_surrogate + vf_coef · value_loss − ent_coef · entropy.
"""

from __future__ import annotations

import jax

from pgjax import losses
from pgjax.advantages import gae, normalize
from pgjax.algorithms import core
from pgjax.algorithms.config import (
    BOOL,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    UNIT_INTERVAL,
    BaseConfig,
    hyper,
    static,
)
from pgjax.algorithms.core import TrainState, evaluate  # noqa: F401  (part of the protocol)
from flax import struct

_CONTINUOUS = dict(normalize_observations=True, scale_rewards=True, clip_value=False, ent_coef=0.0)


@struct.dataclass
class Config(BaseConfig):
    update_epochs: int = static(4, POSITIVE_INT, "passes over each batch")
    num_minibatches: int = static(4, POSITIVE_INT, "minibatches per pass")
    normalize_advantages: bool = static(True, BOOL, "standardise advantages per minibatch")
    clip_value: bool = static(True, BOOL, "clip the value update around the old values by clip_eps")
    gae_lambda: float = hyper(0.95, UNIT_INTERVAL, "GAE λ")
    clip_eps: float = hyper(0.2, POSITIVE, "surrogate clip range ε")
    ent_coef: float = hyper(0.01, NON_NEGATIVE, "entropy bonus coefficient")
    vf_coef: float = hyper(0.5, NON_NEGATIVE, "value loss coefficient")

    PRESETS = {
        "CartPole-v1": dict(num_envs=4, num_steps=128, learning_rate=2.5e-4, total_timesteps=500_000),
        "Acrobot-v1": dict(num_envs=16, num_steps=128, learning_rate=1e-3, total_timesteps=500_000, ent_coef=0.0),
        "MountainCar-v0": dict(
            num_envs=16, num_steps=256, learning_rate=1e-3, total_timesteps=1_000_000,
            normalize_observations=True, gae_lambda=0.98, ent_coef=0.0,
        ),
        "Pendulum-v1": dict(
            _CONTINUOUS, num_envs=16, num_steps=256, total_timesteps=1_000_000, learning_rate=1e-3,
            update_epochs=10, num_minibatches=32, gamma=0.95, gae_lambda=0.95,
        ),
        "MountainCarContinuous-v0": dict(
            _CONTINUOUS, num_envs=16, num_steps=256, total_timesteps=1_000_000, learning_rate=3e-4,
            update_epochs=10, num_minibatches=32, gamma=0.99, gae_lambda=0.9,
        ),
        "Breakout-MinAtar": dict(
            num_envs=64, num_steps=128, total_timesteps=10_000_000, learning_rate=5e-3,
            update_epochs=4, num_minibatches=8, hidden_sizes=(256,), activation="relu",
        ),
    }

    def check(self):
        super().check()
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches: must divide num_envs * num_steps = {self.batch_size}, got {self.num_minibatches}"
            )


def init(config: Config, key) -> TrainState:
    return core.init_state(config, key)


def update(config: Config, state: TrainState):
    state, trajectory, network = core.collect(config, state)
    advantages, targets = gae(
        trajectory.reward, trajectory.value, trajectory.next_value,
        trajectory.terminated, trajectory.truncated, config.gamma, config.gae_lambda,
    )
    batch = core.flatten_time((trajectory, advantages, targets))
    optimizer = core.make_optimizer(config)
    step_size = core.learning_rate(config, state.iteration)

    def loss_fn(params, minibatch):
        transitions, advantages, targets = minibatch
        dist, values = network.apply(params, transitions.obs)
        if config.normalize_advantages:
            advantages = normalize(advantages)
        policy_loss, aux = losses.clipped_surrogate_loss(
            dist.log_prob(transitions.action), transitions.log_prob, advantages, config.clip_eps
        )
        value_loss = losses.value_loss(
            values, targets, transitions.value, config.clip_eps if config.clip_value else None
        )
        entropy = dist.entropy().mean()
        loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
        return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy, **aux}

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, minibatch)
        params, opt_state = core.apply_gradients(optimizer, params, opt_state, grads, step_size)
        return (params, opt_state), {"loss": loss, **metrics}

    update_key, key = jax.random.split(state.key)
    (params, opt_state), learn_metrics = core.minibatch_epochs(
        minibatch_step, (state.params, state.opt_state), batch, update_key,
        config.update_epochs, config.num_minibatches,
    )
    state = state.replace(params=params, opt_state=opt_state, key=key)
    state, metrics = core.episode_metrics(config, state, trajectory)
    return state, {**metrics, **learn_metrics, "learning_rate": step_size}


def train(config: Config, key, callback=None):
    return core.train(init, update, config, key, callback)


def train_batch(config: Config, keys, callback=None):
    return core.train_batch(init, update, config, keys, callback)
