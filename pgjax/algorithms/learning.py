"""Learning: the GAE batch, the shared actor-critic loss, and minibatch epochs of Adam
steps at the (annealed) step size of the iteration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from pgjax import losses
from pgjax.advantages import gae, normalize
from pgjax.algorithms.build import Setup, TrainState
from pgjax.layout import flatten_time
from pgjax.layout import swap_time as env_major
from pgjax.rollout import Trajectory


def learning_rate(config, iteration: chex.Array) -> chex.Array:
    """The step size at `iteration`: constant, or decayed linearly to 0 at the last iteration."""
    if not config.anneal_lr:
        return jnp.asarray(config.learning_rate, jnp.float32)
    return config.learning_rate * (1.0 - iteration / config.num_iterations)


def apply_gradients(optimizer, params, opt_state, grads, step_size):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: p - step_size * u, params, updates)
    return params, opt_state


def minibatch_epochs(
    step_fn: Callable,
    carry,
    batch,
    key: chex.PRNGKey,
    num_epochs: int,
    num_minibatches: int,
):
    """`num_epochs` passes over `batch` (leaves `[B, ...]`), each shuffled along axis 0 and cut
    into `num_minibatches` equal minibatches; `step_fn(carry, minibatch) -> (carry, metrics)`.
    Returns `(carry, metrics averaged over all steps)`. Axis 0 holds single transitions
    for a feed-forward network and whole environment sequences for a recurrent one."""
    batch_size = jax.tree.leaves(batch)[0].shape[0]

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, batch_size)
        minibatches = jax.tree.map(
            lambda x: x[order].reshape((num_minibatches, batch_size // num_minibatches) + x.shape[1:]), batch
        )
        return jax.lax.scan(step_fn, carry, minibatches)

    carry, metrics = jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))
    return carry, jax.tree.map(jnp.mean, metrics)


@struct.dataclass
class Batch:
    """One iteration's learning data, only what the losses read (so that the shuffled
    minibatch gathers touch nothing else).

    Feed-forward networks: every field flattened to `[B = T·N, ...]` (time-major order),
    `carry` and `reset` unused. Recurrent networks: every field `[N, T, ...]` (one row per
    environment sequence), `carry [N, ...]` the memory the sequence started from and
    `reset [N, T]` where an episode starts inside it.
    """

    obs: chex.Array  # s_t
    action: chex.Array  # a_t
    log_prob: chex.Array  # log π_old(a_t|s_t)
    value: chex.Array  # V_old(s_t)
    advantages: chex.Array  # GAE advantages A_t
    targets: chex.Array  # value targets A_t + V(s_t)
    old_policy: Any = None  # π_old(·|s_t) as a distribution, for methods that need the exact KL
    carry: Any = ()
    reset: Any = ()


def advantage_batch(config, trajectory: Trajectory, carry=(), old_policy=None) -> Batch:
    """GAE advantages and targets (`config.gamma`, `config.gae_lambda`) for a rollout, in
    the `Batch` layout of `config`'s network (with `old_policy`, if given, and the
    segment's starting `carry`)."""
    advantages, targets = gae(
        trajectory.reward, trajectory.value, trajectory.next_value,
        trajectory.terminated, trajectory.truncated, config.gamma, config.gae_lambda,
    )
    t = trajectory
    if config.recurrent:
        sequences = env_major(Batch(t.obs, t.action, t.log_prob, t.value, advantages, targets, old_policy, (), t.reset))
        return sequences.replace(carry=carry)
    return flatten_time(Batch(t.obs, t.action, t.log_prob, t.value, advantages, targets, old_policy))


def old_policy(setup: Setup, params, trajectory: Trajectory, carry=()):
    """π_old(·|s_t) on every step of a rollout `[T, N]`, replayed from its starting `carry`."""
    if not setup.network.recurrent:
        return setup.network.unroll_policy(params, carry, trajectory.obs, trajectory.reset)
    return env_major(setup.network.unroll_policy(params, carry, env_major(trajectory.obs), env_major(trajectory.reset)))


def replay(setup: Setup, params, batch: Batch):
    """`(distribution, value)` of the current parameters on the batch, in its layout:
    one batched pass for a feed-forward network; for a recurrent one, each sequence
    replayed from its stored carry, zeroed where an episode starts."""
    _, dist, values = setup.network.unroll(params, batch.carry, batch.obs, batch.reset)
    return dist, values


def replay_policy(setup: Setup, params, batch: Batch):
    """The distribution half of `replay` (critic-free methods and KL checks skip the value head)."""
    return setup.network.unroll_policy(params, batch.carry, batch.obs, batch.reset)


def actor_critic_loss(config, setup: Setup, policy_loss_fn: Callable, value_clip_eps=None) -> Callable:
    """The loss shared by A2C, PPO and PPO-KL, which differ only in the policy term:

        L(θ) = policy_loss_fn(π_θ, batch, A) + vf_coef · value_loss − ent_coef · mean H(π_θ)

    `A` is the batch's advantages, standardised when `config.normalize_advantages`;
    `policy_loss_fn(dist, batch, advantages) -> (loss, aux)`; the value loss is
    clipped around the old values by `value_clip_eps` unless it is None.
    Returns `loss_fn(params, batch) -> (loss, metrics)`.
    """
    def loss_fn(params, batch: Batch):
        dist, values = replay(setup, params, batch)
        advantages = normalize(batch.advantages) if config.normalize_advantages else batch.advantages
        policy_loss, aux = policy_loss_fn(dist, batch, advantages)
        value_loss = losses.value_loss(values, batch.targets, batch.value, value_clip_eps)
        entropy = dist.entropy().mean()
        loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
        return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy, **aux}

    return loss_fn


def descend(config, setup: Setup, state: TrainState, loss_fn: Callable, batch, num_epochs: int, num_minibatches: int):
    """`num_epochs × num_minibatches` optimiser steps of `loss_fn(params, minibatch) -> (loss,
    metrics)` on `batch` (see `minibatch_epochs`), at this iteration's step size.
    Returns `(state with new params, optimiser state and key, metrics incl. learning_rate)`."""
    step_size = learning_rate(config, state.iteration)
    shuffle_key, key = jax.random.split(state.key)
    (params, opt_state), metrics = minibatch_epochs(
        gradient_step(loss_fn, setup.optimizer, step_size), (state.params, state.opt_state),
        batch, shuffle_key, num_epochs, num_minibatches,
    )
    return state.replace(params=params, opt_state=opt_state, key=key), {**metrics, "learning_rate": step_size}


def gradient_step(loss_fn: Callable, optimizer, step_size) -> Callable:
    """One optimiser step on `loss_fn(params, batch) -> (loss, metrics)`, shaped as a scan
    body for `minibatch_epochs`: `((params, opt_state), batch) -> ((params, opt_state), metrics)`."""

    def step(carry, batch):
        params, opt_state = carry
        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch)
        params, opt_state = apply_gradients(optimizer, params, opt_state, grads, step_size)
        return (params, opt_state), {"loss": loss, **metrics}

    return step
