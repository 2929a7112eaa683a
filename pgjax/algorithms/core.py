"""The machinery every algorithm shares, so each algorithm file holds only its difference.

- `TrainState`: everything that changes during training, as one pytree.
- `make_env_and_network`, `init_state`: the environment stack and the actor-critic.
- `collect`: one rollout of `num_steps × num_envs` transitions plus its episode metrics.
- `make_optimizer`, `apply_gradients`, `minibatch_epochs`: the learning loop.
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

from pgjax.envs import is_discrete, make_vec_env
from pgjax.networks import ActorCritic
from pgjax.rollout import Trajectory, rollout


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


def _scan_updates(update_fn, state, num_iterations: int, callback: Callable | None):
    def body(state, _):
        state, metrics = update_fn(state)
        if callback is not None:
            # Hand the host plain NumPy copies: device arrays kept alive past the
            # callback can deadlock the runtime that is still executing the program.
            jax.debug.callback(lambda m: callback(jax.tree.map(np.asarray, m)), metrics)
        return state, metrics

    return jax.lax.scan(body, state, None, length=num_iterations)


def train(init_fn, update_fn, config, key: chex.PRNGKey, callback: Callable | None = None):
    """`init` then `num_iterations` scanned `update`s. Returns `(state, metrics [num_iterations])`.

    `callback(metrics)`, if given, runs on the host after every iteration (via
    `jax.debug.callback`), while the compiled program keeps running.
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
