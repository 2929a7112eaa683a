"""The machinery every algorithm shares, so each algorithm file holds only its difference.

- `TrainState`: everything that changes during training, as one pytree.
- `make_env_and_network`, `init_state`: the environment stack and the actor-critic.
- `collect`: one rollout of `num_steps × num_envs` transitions plus its episode metrics.
- `make_optimizer`, `apply_gradients`, `minibatch_epochs`: the learning loop.
- `advantage_batch`, `actor_critic_loss`, `gradient_step`: the GAE batch and the
  policy + value − entropy loss that A2C, PPO and PPO-KL share.
- `collect_episodes`, `reward_to_go`, `mask_weights`, `masked_policy_gradient_step`: whole
  episodes and the masked Monte-Carlo policy gradient that REINFORCE, RLOO and GRPO share.
- `train`, `train_batch`: `init` then a `lax.scan` of `update`, optionally reporting
  progress to the host from inside the compiled program.
- `evaluate`: returns of fresh episodes under the current policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.experimental import io_callback

from pgjax import losses
from pgjax.advantages import discounted_returns, gae, normalize
from pgjax.envs import is_discrete, make_vec_env
from pgjax.networks import ActorCritic
from pgjax.rollout import Trajectory, rollout, rollout_episodes


@struct.dataclass
class TrainState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: chex.Array  # [num_envs, *obs_shape], the next observation to act on
    key: chex.PRNGKey
    iteration: chex.Array  # updates done so far
    last_episode_return: chex.Array  # latest mean return of finished episodes (NaN before the first)


# ---------------------------------------------------------------- building


def make_env(config, num_envs: int | None = None, obs_statistics=None):
    """The wrapped, batched training environment described by `config`."""
    return make_vec_env(
        config.env,
        num_envs or config.num_envs,
        normalize_observations=config.normalize_observations,
        scale_rewards=config.scale_rewards and obs_statistics is None,
        gamma=config.gamma,
        obs_statistics=obs_statistics,
        env_params=dict(config.env_params),
    )


def make_network(config, env, env_params) -> ActorCritic:
    discrete = is_discrete(env, env_params)
    action_space = env.action_space(env_params)
    obs_shape = env.observation_space(env_params).shape
    return ActorCritic(
        action_dim=action_space.n if discrete else action_space.shape[0],
        discrete=discrete,
        obs_ndim=len(obs_shape),
        hidden_sizes=config.hidden_sizes,
        activation=config.activation,
        log_std_init=getattr(config, "log_std_init", 0.0),
    )


def make_optimizer(config) -> optax.GradientTransformation:
    """Gradient clipping then Adam's scaling; the (traced, annealed) step size is applied by
    `apply_gradients`, so no hyperparameter is baked into the optimiser state."""
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.scale_by_adam(eps=1e-5))


def learning_rate(config, iteration: chex.Array) -> chex.Array:
    """The step size at `iteration`: constant, or decayed linearly to 0 at the last iteration."""
    if not config.anneal_lr:
        return jnp.asarray(config.learning_rate, jnp.float32)
    return config.learning_rate * (1.0 - iteration / config.num_iterations)


def apply_gradients(optimizer, params, opt_state, grads, step_size):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: p - step_size * u, params, updates)
    return params, opt_state


def init_state(config, key: chex.PRNGKey, **extra) -> TrainState:
    """Parameters, optimiser state and reset environments; `extra` fills subclass fields."""
    state_cls = extra.pop("state_cls", TrainState)
    env, env_params = make_env(config)
    network = make_network(config, env, env_params)
    key, params_key, reset_key = jax.random.split(key, 3)
    obs, env_state = env.reset(reset_key, env_params)
    params = network.init(params_key, obs[:1])
    return state_cls(
        params=params,
        opt_state=make_optimizer(config).init(params),
        env_state=env_state,
        obs=obs,
        key=key,
        iteration=jnp.zeros((), jnp.int32),
        last_episode_return=jnp.full((), jnp.nan),
        **extra,
    )


# ---------------------------------------------------------------- acting


def collect(config, state: TrainState, use_critic: bool = True):
    """Roll the current policy for `num_steps`. Returns `(state, trajectory, network)`."""
    env, env_params = make_env(config)
    network = make_network(config, env, env_params)
    key, rollout_key = jax.random.split(state.key)
    value_fn = (lambda params, obs: network.apply(params, obs, method=ActorCritic.value)) if use_critic else None
    env_state, obs, trajectory = rollout(
        env, env_params, network.apply, value_fn, state.params, state.env_state, state.obs, rollout_key, config.num_steps
    )
    return state.replace(env_state=env_state, obs=obs, key=key), trajectory, network


def episode_metrics(config, state: TrainState, trajectory: Trajectory) -> tuple[TrainState, dict]:
    """Mean undiscounted return and length of the episodes that finished in this rollout.

    When none finished, `episode_return` repeats the last known value (so curves stay
    continuous) and `episode_count` is 0.
    """
    done = trajectory.episode_done.astype(jnp.float32)
    count = done.sum()
    mean_return = jnp.where(
        count > 0, (trajectory.episode_return * done).sum() / jnp.maximum(count, 1.0), state.last_episode_return
    )
    mean_length = (trajectory.episode_length * done).sum() / jnp.maximum(count, 1.0)
    iteration = state.iteration + 1
    metrics = {
        "env_steps": iteration * config.batch_size,
        "episode_return": mean_return,
        "episode_length": mean_length,
        "episode_count": count,
    }
    return state.replace(iteration=iteration, last_episode_return=mean_return), metrics


# ---------------------------------------------------------------- learning


def flatten_time(tree):
    """`[T, N, ...] -> [T·N, ...]` for every leaf."""
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), tree)


def minibatch_epochs(
    step_fn: Callable,
    carry,
    batch,
    key: chex.PRNGKey,
    num_epochs: int,
    num_minibatches: int,
):
    """`num_epochs` passes over `batch` (leaves `[B, ...]`), each shuffled and cut into
    `num_minibatches` equal minibatches; `step_fn(carry, minibatch) -> (carry, metrics)`.
    Returns `(carry, metrics averaged over all steps)`."""
    batch_size = jax.tree.leaves(batch)[0].shape[0]

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, batch_size)
        minibatches = jax.tree.map(
            lambda x: x[order].reshape((num_minibatches, batch_size // num_minibatches) + x.shape[1:]), batch
        )
        return jax.lax.scan(step_fn, carry, minibatches)

    carry, metrics = jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))
    return carry, jax.tree.map(jnp.mean, metrics)


# ---------------------------------------------------------------- whole runs


def _scan_updates(update_fn, state, num_iterations: int, callback: Callable | None, axis_name: str | None = None):
    """`num_iterations` scanned `update_fn(state) -> (state, metrics)`.

    With a `callback`, each iteration's metrics go to the host, and the callback's return
    value is a stop request: once it returns True, the remaining iterations are skipped
    (their metrics are zeros; `state.iteration` tells how many ran), so a host can end a
    compiled run at the next iteration boundary (Ctrl-C, a diverged run, early stopping).
    """
    if callback is None:
        return jax.lax.scan(lambda state, _: update_fn(state), state, None, length=num_iterations)

    def report(metrics):
        # Hand the host plain NumPy copies: device arrays kept alive past the
        # callback can deadlock the runtime that is still executing the program.
        def host(metrics):
            answer = callback(jax.tree.map(np.asarray, metrics))
            return np.bool_(isinstance(answer, (bool, np.bool_)) and bool(answer))

        return io_callback(host, jax.ShapeDtypeStruct((), jnp.bool_), metrics)

    def run(state):
        state, metrics = update_fn(state)
        if axis_name is None:
            stop = report(metrics)
        else:
            # Inside `shard_map` each device holds a slice of the runs: gather them all and
            # report from the first device only, so the host sees every run once per
            # iteration; its answer is shared so that every device stops at the same iteration.
            gathered = jax.lax.all_gather(metrics, axis_name, tiled=True)
            first = jax.lax.axis_index(axis_name) == 0
            stop = jax.lax.cond(first, report, lambda _: jnp.zeros((), jnp.bool_), gathered)
            stop = jax.lax.psum(stop.astype(jnp.int32), axis_name) > 0
        return state, metrics, stop

    metrics_like = jax.eval_shape(update_fn, state)[1]

    def skip(state):
        return state, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metrics_like), jnp.ones((), jnp.bool_)

    def body(carry, _):
        state, stopped = carry
        state, metrics, stop = jax.lax.cond(stopped, skip, run, state)
        return (state, stop), metrics

    (state, _), metrics = jax.lax.scan(body, (state, jnp.zeros((), jnp.bool_)), None, length=num_iterations)
    return state, metrics


def train(init_fn, update_fn, config, key: chex.PRNGKey, callback: Callable | None = None):
    """`init` then `num_iterations` scanned `update`s. Returns `(state, metrics [num_iterations])`.

    `callback(metrics)`, if given, runs on the host after every iteration (via
    `io_callback`), while the compiled program keeps running; if it returns True, the
    remaining iterations are skipped (see `_scan_updates`).
    """
    state = init_fn(config, key)
    return _scan_updates(lambda s: update_fn(config, s), state, config.num_iterations, callback)


def train_batch(init_fn, update_fn, config, keys: chex.PRNGKey, callback: Callable | None = None):
    """Like `train`, for one run per key (`keys [S]`) vmapped inside one program.

    The scan over iterations sits outside the vmap, so `callback` receives the metrics
    of all runs (`[S]` leaves) once per iteration rather than once per run.
    Returns `(states [S], metrics [num_iterations, S])`.
    """
    states = jax.vmap(init_fn, in_axes=(None, 0))(config, keys)
    update_all = jax.vmap(lambda s: update_fn(config, s))
    return _scan_updates(update_all, states, config.num_iterations, callback)


def evaluate(config, state: TrainState, key: chex.PRNGKey, num_episodes: int, greedy: bool = False) -> chex.Array:
    """Undiscounted returns `[num_episodes]` of fresh episodes, one per parallel environment.

    Observation statistics are the trained agent's, frozen. `greedy` acts with the
    distribution's mode instead of sampling.
    """
    if not isinstance(num_episodes, (int, np.integer)) or isinstance(num_episodes, bool) or num_episodes < 1:
        raise ValueError(f"num_episodes: must be a positive integer, got {num_episodes!r}")
    obs_statistics = state.env_state.obs_stats if config.normalize_observations else None
    env, env_params = make_env(config, num_envs=num_episodes, obs_statistics=obs_statistics)
    network = make_network(config, env, env_params)
    reset_key, key = jax.random.split(key)
    obs, env_state = env.reset(reset_key, env_params)

    def running(carry):
        return ~jnp.all(carry[3])

    def step(carry):
        env_state, obs, key, finished, returns = carry
        key, action_key, env_key = jax.random.split(key, 3)
        dist = network.apply(state.params, obs, method=ActorCritic.policy)
        action = dist.mode() if greedy else dist.sample(action_key)
        obs, env_state, _, _, _, info = env.step(jax.random.split(env_key, num_episodes), env_state, action, env_params)
        first_end = info["episode_done"] & ~finished
        returns = jnp.where(first_end, info["episode_return"], returns)
        return env_state, obs, key, finished | info["episode_done"], returns

    init = (env_state, obs, key, jnp.zeros(num_episodes, bool), jnp.zeros(num_episodes))
    return jax.lax.while_loop(running, step, init)[4]


# ---------------------------------------------------------------- actor-critic losses


@struct.dataclass
class Batch:
    """One iteration's learning data, flattened to `[B = T·N, ...]` (time-major order).

    Only what the losses read, so that the shuffled minibatch gathers touch nothing
    else (`benchmarks/profile_iteration.py` measures this against the whole `Trajectory`).
    """

    obs: chex.Array  # s_t
    action: chex.Array  # a_t
    log_prob: chex.Array  # log π_old(a_t|s_t)
    value: chex.Array  # V_old(s_t)
    advantages: chex.Array  # GAE advantages A_t
    targets: chex.Array  # value targets A_t + V(s_t)
    old_policy: Any = None  # π_old(·|s_t) as a distribution, for methods that need the exact KL


def advantage_batch(config, trajectory: Trajectory, old_policy=None) -> Batch:
    """GAE advantages and targets (`config.gamma`, `config.gae_lambda`) for a rollout,
    flattened with it (and with `old_policy`, if given) into one `Batch`."""
    advantages, targets = gae(
        trajectory.reward, trajectory.value, trajectory.next_value,
        trajectory.terminated, trajectory.truncated, config.gamma, config.gae_lambda,
    )
    t = trajectory
    return flatten_time(Batch(t.obs, t.action, t.log_prob, t.value, advantages, targets, old_policy))


def actor_critic_loss(config, network: ActorCritic, policy_loss_fn: Callable, value_clip_eps=None) -> Callable:
    """The loss shared by A2C, PPO and PPO-KL, which differ only in the policy term:

        L(θ) = policy_loss_fn(π_θ, batch, A) + vf_coef · value_loss − ent_coef · mean H(π_θ)

    `A` is the batch's advantages, standardised when `config.normalize_advantages`;
    `policy_loss_fn(dist, batch, advantages) -> (loss, aux)`; the value loss is
    clipped around the old values by `value_clip_eps` unless it is None.
    Returns `loss_fn(params, batch) -> (loss, metrics)`.
    """
    def loss_fn(params, batch: Batch):
        dist, values = network.apply(params, batch.obs)
        advantages = normalize(batch.advantages) if config.normalize_advantages else batch.advantages
        policy_loss, aux = policy_loss_fn(dist, batch, advantages)
        value_loss = losses.value_loss(values, batch.targets, batch.value, value_clip_eps)
        entropy = dist.entropy().mean()
        loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
        return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy, **aux}

    return loss_fn


def descend(config, state: TrainState, loss_fn: Callable, batch, num_epochs: int, num_minibatches: int):
    """`num_epochs × num_minibatches` Adam steps of `loss_fn(params, minibatch) -> (loss, metrics)`
    on `batch` (see `minibatch_epochs`), at this iteration's step size.
    Returns `(state with new params, optimiser state and key, metrics incl. learning_rate)`."""
    step_size = learning_rate(config, state.iteration)
    shuffle_key, key = jax.random.split(state.key)
    (params, opt_state), metrics = minibatch_epochs(
        gradient_step(loss_fn, make_optimizer(config), step_size), (state.params, state.opt_state),
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


def entry_points(init_fn: Callable, update_fn: Callable) -> tuple[Callable, Callable]:
    """An algorithm's `train(config, key, callback=None)` and `train_batch(config, keys,
    callback=None)`, built from its `init` and `update` (see `train` and `train_batch`)."""

    def train_one(config, key: chex.PRNGKey, callback: Callable | None = None):
        return train(init_fn, update_fn, config, key, callback)

    def train_many(config, keys: chex.PRNGKey, callback: Callable | None = None):
        return train_batch(init_fn, update_fn, config, keys, callback)

    train_one.__doc__, train_many.__doc__ = train.__doc__, train_batch.__doc__
    return train_one, train_many


def continue_training(update_fn, config, state: TrainState, num_iterations: int, callback: Callable | None = None):
    """`num_iterations` more scanned `update`s from `state`. Returns `(state, metrics [num_iterations])`.

    Training in chunks (`init`, then `continue_training` k times) gives the same numbers as one
    `train`: everything that changes lives in `state`, and the learning-rate schedule reads
    `state.iteration` and `config.num_iterations`, never the chunk length.
    """
    return _scan_updates(lambda s: update_fn(config, s), state, num_iterations, callback)


def train_runs(
    init_fn, update_fn, configs, keys: chex.PRNGKey, callback: Callable | None = None, axis_name: str | None = None
):
    """Like `train_batch`, but each run has its own hyperparameters: every traced leaf of
    `configs` and `keys` carries a leading run axis `[R]` (run `r` is `configs[r]` with `keys[r]`).

    Static fields are shared, so all `R` runs are one program. The scan over iterations sits
    outside the vmap, so `callback` receives `[R]` metric leaves once per iteration.
    Returns `(states [R], metrics [num_iterations, R])`.

    `axis_name`: when called inside `shard_map` over a mesh axis of that name (each device
    holding a slice of the runs), `callback` still sees all runs, once, from the first device.
    """
    states = jax.vmap(init_fn)(configs, keys)
    update_all = jax.vmap(update_fn)
    return _scan_updates(lambda s: update_all(configs, s), states, configs.num_iterations, callback, axis_name)


# ---------------------------------------------------------------- whole episodes (Monte-Carlo methods)


def collect_episodes(config, state: TrainState, group_size: int = 1, use_critic: bool = False):
    """Reset every environment (groups of `group_size` share a reset key) and roll the
    policy for `num_steps`; see `pgjax.rollout.rollout_episodes`.
    Returns `(state, episodes)`."""
    env, env_params = make_env(config)
    network = make_network(config, env, env_params)
    key, rollout_key = jax.random.split(state.key)
    if use_critic:
        policy_fn = network.apply
        value_fn = lambda params, obs: network.apply(params, obs, method=ActorCritic.value)  # noqa: E731
    else:
        # Critic-free: skip the value head on every step of the rollout.
        def policy_fn(params, obs):
            dist = network.apply(params, obs, method=ActorCritic.policy)
            return dist, jnp.zeros(obs.shape[0])

        value_fn = None
    env_state, obs, episodes = rollout_episodes(
        env, env_params, policy_fn, value_fn, state.params, rollout_key, config.num_steps, group_size
    )
    return state.replace(env_state=env_state, obs=obs, key=key), episodes


def reward_to_go(config, episodes) -> chex.Array:
    """G_t of each environment's first episode `[T, num_envs]` (zero after it ended),
    bootstrapping from V(s_{t+1}) where the episode was cut (`next_value` is zero for
    critic-free methods)."""
    return discounted_returns(
        episodes.reward, episodes.terminated, episodes.truncated, config.gamma,
        bootstrap=episodes.next_value * episodes.alive,
    )


def mask_weights(alive: chex.Array) -> chex.Array:
    """w = alive · n / Σ alive, so that mean(w · x) over all n entries is the mean of x over
    the alive ones. Scaling a per-sample loss term by w turns any `losses.*` mean into a
    masked mean (for the clipped surrogate too, since w ≥ 0 commutes with its min)."""
    return alive * (alive.size / jnp.maximum(alive.sum(), 1.0))


def masked_policy_gradient_step(config, state: TrainState, episodes, advantages, value_targets=None):
    """One Adam step on the Monte-Carlo policy-gradient loss over the alive steps:

        L = −mean_alive(log π(a|s) · A) − ent_coef · mean_alive(H[π(·|s)])
            [+ vf_coef · ½ mean_alive((V(s) − y)²)   when `value_targets` y are given]

    `advantages`, `value_targets` `[T, num_envs]`. Returns `(state, metrics)`.
    """
    chex.assert_equal_shape([advantages, episodes.alive])
    env, env_params = make_env(config)
    network = make_network(config, env, env_params)
    optimizer = make_optimizer(config)
    step_size = learning_rate(config, state.iteration)
    weights = mask_weights(episodes.alive)

    def loss_fn(params, episodes):
        dist, values = network.apply(params, episodes.obs)
        policy_loss = losses.policy_gradient_loss(dist.log_prob(episodes.action), advantages * weights)
        entropy = jnp.mean(dist.entropy() * weights)
        loss = policy_loss - config.ent_coef * entropy
        metrics = {"policy_loss": policy_loss, "entropy": entropy}
        if value_targets is not None:
            # ½ mean(w (V − y)²) = ½ mean((√w V − √w y)²): value_loss on rescaled values.
            root = jnp.sqrt(weights)
            value_loss = losses.value_loss(root * values, root * value_targets)
            loss = loss + config.vf_coef * value_loss
            metrics["value_loss"] = value_loss
        return loss, metrics

    step = gradient_step(loss_fn, optimizer, step_size)
    (params, opt_state), metrics = step((state.params, state.opt_state), episodes)
    return state.replace(params=params, opt_state=opt_state), {**metrics, "learning_rate": step_size}


def group_returns(config, episodes) -> chex.Array:
    """R `[num_groups, group_size]`: each episode's discounted return from its first step,
    arranged by the groups that `collect_episodes(..., group_size)` reset together."""
    return reward_to_go(config, episodes)[0].reshape(config.num_groups, config.group_size)


def continue_runs(
    update_fn, configs, states: TrainState, num_iterations: int, callback: Callable | None = None,
    axis_name: str | None = None,
):
    """`continue_training` for `R` runs with their own hyperparameters, as in `train_runs`
    (leaves of `configs` and `states` carry a leading run axis `[R]`): `init` vmapped, then
    `continue_runs` k times, gives the numbers of one `train_runs`.
    Returns `(states [R], metrics [num_iterations, R])`."""
    update_all = jax.vmap(update_fn)
    return _scan_updates(lambda s: update_all(configs, s), states, num_iterations, callback, axis_name)
