"""Evaluation of a trained agent: fresh episodes, and a token task's held-out prompts."""

from __future__ import annotations

import chex
import gymnax
import jax
import jax.numpy as jnp

from pgjax.algorithms.build import TrainState, build
from pgjax.checks import check_positive_int
from pgjax.envs.tokens import TOKEN_TASKS, TokenTask


def evaluate(config, state: TrainState, key: chex.PRNGKey, num_episodes: int, greedy: bool = False) -> chex.Array:
    """Undiscounted returns `[num_episodes]` of fresh episodes, one per parallel environment.

    Observation statistics are the trained agent's, frozen; a recurrent policy starts
    each episode from a fresh carry. `greedy` acts with the distribution's mode instead
    of sampling.
    """
    check_positive_int("num_episodes", num_episodes)
    obs_statistics = state.env_state.obs_stats if config.normalize_observations else None
    setup = build(config, num_envs=num_episodes, obs_statistics=obs_statistics)
    env, env_params, network = setup.env, setup.env_params, setup.network
    reset_key, key = jax.random.split(key)
    obs, env_state = env.reset(reset_key, env_params)

    def running(loop):
        return ~jnp.all(loop[3])

    def step(loop):
        env_state, obs, key, finished, returns, carry, reset = loop
        key, action_key, env_key = jax.random.split(key, 3)
        carry, dist = network.policy(state.params, carry, obs, reset)
        action = dist.mode() if greedy else dist.sample(action_key)
        obs, env_state, _, _, _, info = env.step(jax.random.split(env_key, num_episodes), env_state, action, env_params)
        first_end = info["episode_done"] & ~finished
        returns = jnp.where(first_end, info["episode_return"], returns)
        return env_state, obs, key, finished | info["episode_done"], returns, carry, info["episode_done"]

    init = (
        env_state, obs, key, jnp.zeros(num_episodes, bool), jnp.zeros(num_episodes),
        network.initial_carry(num_episodes), jnp.ones(num_episodes, bool),
    )
    return jax.lax.while_loop(running, step, init)[4]


def evaluate_heldout(config, state, greedy: bool = True, key=None) -> dict:
    """Generate an answer to every held-out prompt of `config.env` with the trained policy
    (`state.params`; greedy decoding by default, else sampled with `key`); see `answer_heldout`."""
    env, _ = gymnax.make(config.env)
    if not isinstance(env, TokenTask):
        raise ValueError(f"env: {config.env} is not a token task (one of {', '.join(TOKEN_TASKS)})")
    network = build(config, num_envs=len(env.heldout_prompts())).network
    return answer_heldout(env, network, state.params, greedy, key)


def answer_heldout(env: TokenTask, network, params, greedy: bool = True, key=None) -> dict:
    """`network` (the `pgjax.networks.interface`) answers every held-out prompt of `env`.
    Returns `{"exact_match": share of answers exactly right, "reward": mean reward,
    "length": mean completion length}`, scalars (pure and jit-able)."""
    prompts = jnp.asarray(env.heldout_prompts())
    num_prompts = len(prompts)
    env_params = env.default_params
    obs, env_state = jax.vmap(env.reset_with_prompt)(prompts)
    key = jax.random.key(0) if key is None else key

    def step(loop, step_key):
        obs, env_state, carry, reset, done, reward, length = loop
        carry, dist = network.policy(params, carry, obs, reset)
        action = dist.mode() if greedy else dist.sample(step_key)
        obs, env_state, step_reward, ended, _ = jax.vmap(env.step_env, in_axes=(None, 0, 0, None))(
            step_key, env_state, action, env_params
        )
        reward = jnp.where(done, reward, step_reward)
        length = length + (~done).astype(jnp.float32)
        return (obs, env_state, carry, jnp.zeros_like(reset), done | ended, reward, length), None

    start = (obs, env_state, network.initial_carry(num_prompts), jnp.ones(num_prompts, bool),
             jnp.zeros(num_prompts, bool), jnp.zeros(num_prompts), jnp.zeros(num_prompts))
    final, _ = jax.lax.scan(step, start, jax.random.split(key, env.max_answer))
    reward = final[5]
    return {"exact_match": jnp.mean(reward == 1.0), "reward": jnp.mean(reward), "length": jnp.mean(final[6])}
