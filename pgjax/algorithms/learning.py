"""Learning: the GAE batch, the shared actor-critic loss, and minibatch epochs of optimiser
steps (`build.make_optimizer`: the step size follows the optimiser's own step count)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from pgjax import losses
from pgjax.advantages import gae, normalize
from pgjax.algorithms.build import Setup, TrainState, current_learning_rate
from pgjax.layout import flatten_time
from pgjax.layout import swap_time as env_major
from pgjax.rollout import Trajectory


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
    """One iteration's learning data, for every algorithm: only what the losses read (so that
    the shuffled minibatch gathers touch nothing else), laid out for replay.

    Feed-forward networks: every field flattened to `[B = T·N, ...]` (time-major order),
    `carry` and `reset` unused. Recurrent networks: every field `[N, T, ...]` (one row per
    environment sequence), `carry [N, ...]` the memory the sequence started from and
    `reset [N, T]` where an episode starts inside it. `fresh_start` (static) marks rows that
    each start an episode at step 0 from a fresh carry (episodic collection), which a network
    may replay in one pass (`unroll_episodes`). `time_major` (static) marks a batch left
    `[T, N, ...]` for one step on the whole of it (nothing shuffled): `replay` then replays a
    recurrent network's env-major rows and hands the outputs back time-major.

    `weights` (rlax's w_t) is None when every step counts alike (a GAE rollout). Episodic
    collection keeps only each environment's first episode: w_t is 0 on the steps after it
    and, on the live steps (w_t > 0), the loss-aggregation scale of the step's episode
    (`pgjax.losses.aggregation_scale`; 1 for token-mean). Policy terms average w_t·x_t over
    the live steps; entropy, value and metric means are plain means over the live steps.
    """

    obs: chex.Array  # s_t
    action: Any = None  # a_t
    log_prob: Any = None  # log π_old(a_t|s_t)
    advantages: Any = None  # A_t
    value: Any = None  # V_old(s_t) (methods with a critic)
    targets: Any = None  # value targets
    weights: Any = None  # w_t, see above
    old_policy: Any = None  # π_old(·|s_t) as a distribution, for methods that need the exact KL
    reference: Any = None  # π_ref(·|s_t), the reference policy of a KL leash
    carry: Any = ()
    reset: Any = ()
    fresh_start: bool = struct.field(pytree_node=False, default=False)
    time_major: bool = struct.field(pytree_node=False, default=False)

    @property
    def live(self):
        """The steps that count (`weights > 0`), or None when all do."""
        return None if self.weights is None else self.weights > 0

    def weighted(self, values: chex.Array) -> chex.Array:
        """w_t · x_t, the per-step policy terms under the aggregation (x_t when unweighted)."""
        return values if self.weights is None else values * self.weights


def laid_out(network, batch: Batch, carry=()) -> Batch:
    """A time-major `[T, N, ...]` batch in its network's learning layout: flattened to `[T·N, ...]`
    for a feed-forward network (carry and reset dropped), env-major `[N, T, ...]` from `carry`
    for a recurrent one."""
    if network.recurrent:
        return env_major(batch).replace(carry=carry)
    return flatten_time(batch.replace(reset=()))


def advantage_batch(config, setup: Setup, trajectory: Trajectory, carry=()) -> Batch:
    """GAE advantages and targets (`config.gamma`, `config.gae_lambda`) for a rollout, in
    the `Batch` layout of `config`'s network, replayed from the segment's starting `carry`."""
    advantages, targets = gae(
        trajectory.reward, trajectory.value, trajectory.next_value,
        trajectory.terminated, trajectory.truncated, config.gamma, config.gae_lambda,
    )
    t = trajectory
    batch = Batch(t.obs, t.action, t.log_prob, advantages, value=t.value, targets=targets, reset=t.reset)
    return laid_out(setup.network, batch, carry)


def replay(setup: Setup, params, batch: Batch, policy_only: bool = False):
    """`(distribution, value)` of `params` on the batch, in its layout (only the distribution
    when `policy_only`: critic-free losses and KL checks skip the value head). One batched
    pass for a feed-forward network; a recurrent one replays each row from its stored carry,
    zeroed where an episode starts, or, for rows that start fresh and a network that can
    (`unroll_episodes`: the transformer, one causal pass per episode), in one pass."""
    network = setup.network
    if batch.time_major and network.recurrent:
        rows = Batch(env_major(batch.obs), reset=env_major(batch.reset), carry=batch.carry, fresh_start=batch.fresh_start)
        return env_major(replay(setup, params, rows, policy_only))
    if batch.fresh_start and network.recurrent and hasattr(network, "unroll_episodes"):
        dist, values = network.unroll_episodes(params, batch.obs, batch.reset)
        return dist if policy_only else (dist, values)
    if policy_only:
        return network.unroll_policy(params, batch.carry, batch.obs, batch.reset)
    _, dist, values = network.unroll(params, batch.carry, batch.obs, batch.reset)
    return dist, values


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
    metrics)` on `batch` (see `minibatch_epochs`).
    Returns `(state with new params, optimiser state and key, metrics incl. learning_rate)`."""
    step_size = current_learning_rate(config, state.opt_state)
    shuffle_key, key = jax.random.split(state.key)
    (params, opt_state), metrics = minibatch_epochs(
        gradient_step(loss_fn, setup.optimizer), (state.params, state.opt_state),
        batch, shuffle_key, num_epochs, num_minibatches,
    )
    return state.replace(params=params, opt_state=opt_state, key=key), {**metrics, "learning_rate": step_size}


def gradient_step(loss_fn: Callable, optimizer) -> Callable:
    """One optimiser step on `loss_fn(params, batch) -> (loss, metrics)`, shaped as a scan
    body for `minibatch_epochs`: `((params, opt_state), batch) -> ((params, opt_state), metrics)`."""

    def step(carry, batch):
        params, opt_state = carry
        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), {"loss": loss, **metrics}

    return step
