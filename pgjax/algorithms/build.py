"""Building what a run needs from its config, once: the environment stack, the network,
the optimiser (`Setup`), and the initial `TrainState`."""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from pgjax.envs import make_vec_env
from pgjax.networks import make_network


@struct.dataclass
class TrainState:
    """Everything one run carries from iteration to iteration, as a pytree: parameters, optimiser
    state, the environments and the next observation, the policy's carry, the PRNG key, the
    iteration count and the latest mean episode return. `train_batch` stacks it over runs."""

    params: Any
    opt_state: Any
    env_state: Any
    obs: chex.Array  # [num_envs, *obs_shape], the next observation to act on
    carry: Any  # the policy's memory before acting on `obs` (empty for feed-forward networks)
    reset: chex.Array  # [num_envs]: `obs` starts a new episode (the carry is zeroed there)
    key: chex.PRNGKey
    iteration: chex.Array  # updates done so far
    last_episode_return: chex.Array  # latest mean return of finished episodes (NaN before the first)


@dataclasses.dataclass(frozen=True)
class Setup:
    """The fixed machinery of a run: `(env, env_params)` batched and wrapped as `config`
    says, the network (`pgjax.networks.interface`) and the optimiser."""

    env: Any
    env_params: Any
    network: Any
    optimizer: optax.GradientTransformation


def learning_rate_schedule(config) -> optax.Schedule:
    """The step size of optimiser step `count`: `learning_rate`, or with `anneal_lr` decayed
    linearly to 0 over the run, held for the `steps_per_iteration` steps of each iteration:
    lr · (1 − ⌊count / steps_per_iteration⌋ / num_iterations)."""

    def schedule(count: chex.Array) -> chex.Array:
        if not config.anneal_lr:
            return jnp.asarray(config.learning_rate, jnp.float32)
        iteration = count // config.steps_per_iteration
        return config.learning_rate * (1.0 - iteration / config.num_iterations)

    return schedule


def make_optimizer(config) -> optax.GradientTransformation:
    """Gradient clipping, Adam's scaling, then the descent step −lr(count) on the optimiser's own
    step count (`learning_rate_schedule`). The schedule reads `config.learning_rate` when it is
    applied, so the learning rate stays a traced leaf (vmapped over runs, never baked into the
    optimiser state), and no counter outside the optimiser decides the step size."""
    schedule = learning_rate_schedule(config)
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.scale_by_adam(eps=1e-5),
        optax.scale_by_schedule(lambda count: -schedule(count)),
    )


def current_learning_rate(config, opt_state) -> chex.Array:
    """The step size the next optimiser step of `make_optimizer(config)` takes."""
    return learning_rate_schedule(config)(opt_state[-1].count)


def build(config, num_envs: int | None = None, obs_statistics=None) -> Setup:
    """The `Setup` for `config` (`num_envs` copies of the environment, default
    `config.num_envs`; frozen `obs_statistics` for evaluation)."""
    env, env_params = make_vec_env(
        config.env,
        num_envs or config.num_envs,
        normalize_observations=config.normalize_observations,
        scale_rewards=config.scale_rewards and obs_statistics is None,
        gamma=config.gamma,
        obs_statistics=obs_statistics,
        env_params=dict(config.env_params),
    )
    network = make_network(config.network, env.observation_space(env_params), env.action_space(env_params))
    return Setup(env, env_params, network, make_optimizer(config))


def init_state(config, key: chex.PRNGKey, **extra) -> TrainState:
    """Parameters, optimiser state and reset environments; `extra` fills subclass fields."""
    state_cls = extra.pop("state_cls", TrainState)
    setup = build(config)
    key, params_key, reset_key = jax.random.split(key, 3)
    obs, env_state = setup.env.reset(reset_key, setup.env_params)
    params = setup.network.init(params_key, obs)
    return state_cls(
        params=params,
        opt_state=setup.optimizer.init(params),
        env_state=env_state,
        obs=obs,
        carry=setup.network.initial_carry(config.num_envs),
        reset=jnp.ones(config.num_envs, bool),
        key=key,
        iteration=jnp.zeros((), jnp.int32),
        last_episode_return=jnp.full((), jnp.nan),
        **extra,
    )
