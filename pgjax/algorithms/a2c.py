"""Synchronous advantage actor-critic, A2C (Mnih et al., 2016; the synchronous variant).

One iteration: roll out `num_steps × num_envs` transitions, estimate advantages
with GAE, then take a single gradient step on the whole batch of

    L = −mean(log π(a|s) · A) + vf_coef · value_loss − ent_coef · entropy.

Each batch is used once, so the policy gradient is on-policy and needs no
importance ratio; many small batches (few steps, many environments) replace
PPO's many epochs over one large batch.
"""

from __future__ import annotations

from pgjax import losses
from pgjax.algorithms import acting, build, evaluation, learning, presets, scan
from pgjax.algorithms.build import TrainState
from pgjax.algorithms.config import (
    BOOL,
    POSITIVE,
    POSITIVE_INT,
    UNIT_INTERVAL,
    ActorCriticConfig,
    config_dataclass,
    hyper,
    static,
)


@config_dataclass
class Config(ActorCriticConfig):
    """A2C (Mnih et al., 2016): many environments, short rollouts, one gradient step per batch;
    `gae_lambda=1` gives the original n-step returns.
    """

    # A2C's own defaults: many environments and short rollouts, i.e. small frequent updates.
    num_envs: int = static(16, POSITIVE_INT, "parallel environments")
    num_steps: int = static(8, POSITIVE_INT, "steps per environment per iteration")
    normalize_advantages: bool = static(False, BOOL, "standardise advantages over each batch")
    learning_rate: float = hyper(7e-4, POSITIVE, "Adam step size")
    gae_lambda: float = hyper(1.0, UNIT_INTERVAL, "GAE λ (1: n-step returns as in the original A2C)")

    PRESETS = presets.A2C


def init(config: Config, key) -> TrainState:
    """A fresh `TrainState` for `config`: network and optimiser initialised from `key`, the
    environments reset."""
    return build.init_state(config, key)


def _policy_gradient(dist, batch, advantages):
    return losses.policy_gradient_loss(dist.log_prob(batch.action), advantages), {}


def update(config: Config, state: TrainState):
    """One iteration: roll out `num_envs × num_steps` steps, estimate advantages, one gradient step on the
    policy-gradient loss, the value loss and the entropy bonus.

    Returns `(state, metrics)`, metrics a dict of scalars.
    """
    setup = build.build(config)
    state, trajectory, carry = acting.collect(config, setup, state)
    loss_fn = learning.actor_critic_loss(config, setup, _policy_gradient)
    state, learn_metrics = learning.descend(
        config, setup, state, loss_fn, learning.advantage_batch(config, setup, trajectory, carry), num_epochs=1,
        num_minibatches=1,
    )
    return acting.finish_iteration(config, state, trajectory, learn_metrics)


# The rest of the protocol (`pgjax.runs.protocol.Algorithm`), shared by every algorithm.
train, train_batch = scan.entry_points(init, update)
evaluate = evaluation.evaluate
