"""Group-relative policy optimisation (Shao et al., 2024), for environments.

One iteration: `num_groups` groups of `group_size` = K episodes, each group
started from one shared state (as in RLOO). Each episode's return is
standardised within its group, A_{g,k} = (R_{g,k} − mean_g R) / (std_g R + ε), and
given to every step of the episode; no critic. Then `update_epochs ×
num_minibatches` Adam steps on

    L = clipped_surrogate(π_θ, π_old, A) + kl_coef · mean KL(π_θ ‖ π_ref) − ent_coef · entropy,

all means over the steps of the episodes (not the masked steps after them).
π_ref is the initial policy, frozen in the `TrainState`.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import struct

from pgjax import losses
from pgjax.advantages import group_normalized_advantages
from pgjax.algorithms import acting, build, driver, episodic, learning
from pgjax.algorithms.config import NON_NEGATIVE, POSITIVE, POSITIVE_INT, GroupConfig, hyper, static
from pgjax.algorithms.acting import evaluate  # noqa: F401  (part of the protocol)


@struct.dataclass
class Config(GroupConfig):
    update_epochs: int = static(4, POSITIVE_INT, "passes over each batch")
    num_minibatches: int = static(4, POSITIVE_INT, "minibatches per pass")
    clip_eps: float = hyper(0.2, POSITIVE, "surrogate clip range ε")
    kl_coef: float = hyper(0.0, NON_NEGATIVE, "β, weight of the KL penalty to the reference (initial) policy")
    advantage_eps: float = hyper(1e-8, POSITIVE, "ε added to the group std of the returns")

    # Groups as in GroupConfig's defaults: 4 groups of 4 episodes.
    PRESETS = {
        "CartPole-v1": dict(num_steps=500, total_timesteps=2_000_000, learning_rate=1e-3),
        "Pendulum-v1": dict(num_steps=200, total_timesteps=2_000_000, learning_rate=1e-3, gamma=0.95),
        "Catch-bsuite": dict(num_steps=9, total_timesteps=50_000, learning_rate=1e-3, num_minibatches=2),
    }


@struct.dataclass
class TrainState(build.TrainState):
    reference_params: Any  # π_ref of the KL penalty: the initial parameters, never updated


def init(config: Config, key) -> TrainState:
    state = build.init_state(config, key, state_cls=TrainState, reference_params=None)
    return state.replace(reference_params=state.params)


def update(config: Config, state: TrainState):
    setup = build.build(config)
    state, episodes = acting.collect_episodes(config, setup, state, group_size=config.group_size)
    advantages = group_normalized_advantages(episodic.group_returns(config, episodes), config.advantage_eps)
    # Each step gets its episode's advantage; every mean below is under the mask of the
    # episodes' steps (`alive`), also inside a shuffled minibatch.
    step_advantages = jnp.broadcast_to(advantages.reshape(-1), episodes.alive.shape)
    policy = lambda params, obs: setup.network.unroll_policy(params, (), obs, ())  # noqa: E731
    # π_ref never changes within an iteration: evaluate it once on the batch, not in every minibatch step.
    reference = policy(state.reference_params, episodes.obs)
    batch = learning.flatten_time(
        (episodes.obs, episodes.action, episodes.log_prob, step_advantages, episodes.alive, reference)
    )

    def loss_fn(params, minibatch):
        obs, action, old_log_prob, advantages, alive, reference = minibatch
        dist = policy(params, obs)
        surrogate, aux = losses.clipped_surrogate_loss(
            dist.log_prob(action), old_log_prob, advantages, config.clip_eps, mask=alive
        )
        kl = losses.masked_mean(dist.kl(reference), alive)
        entropy = losses.masked_mean(dist.entropy(), alive)
        loss = surrogate + losses.kl_penalty(kl, config.kl_coef) - config.ent_coef * entropy
        return loss, {"policy_loss": surrogate, "reference_kl": kl, "entropy": entropy, **aux}

    state, learn_metrics = learning.descend(
        config, setup, state, loss_fn, batch, config.update_epochs, config.num_minibatches
    )
    return acting.finish_iteration(config, state, episodes, learn_metrics)


train, train_batch = driver.entry_points(init, update)
