"""Playing fixed actions through an environment, for the tests of tests/envs/."""

import jax
import jax.numpy as jnp
import numpy as np


def play(vec_env, env_params, key, actions):
    """Reset, then step with `actions` `[T, N]`; returns the reset obs, final state and stacked step outputs.

    The keys depend only on `key`, so two wrappings of the same environment
    played with the same key and actions see the same raw transitions.
    """
    reset_key, step_key = jax.random.split(key)
    step_keys = jax.random.split(step_key, actions.shape[:2])

    @jax.jit
    def run(actions):
        obs, state = vec_env.reset(reset_key, env_params)

        def step(state, inputs):
            keys, action = inputs
            obs, state, reward, terminated, truncated, info = vec_env.step(keys, state, action, env_params)
            return state, (obs, reward, terminated, truncated, info)

        final_state, outputs = jax.lax.scan(step, state, (step_keys, actions))
        return obs, final_state, outputs

    return jax.tree.map(np.asarray, run(jnp.asarray(actions)))


def cartpole_actions(num_steps):
    """A fixed policy per environment: always left, always right, and two alternating ones.

    Constant pushes topple the pole within ~10 steps (termination); alternating
    pushes keep it up until the time limit (truncation).
    """
    t = np.arange(num_steps)[:, None]
    return np.concatenate([np.zeros((num_steps, 1)), np.ones((num_steps, 1)), t % 2, (t + 1) % 2], axis=1).astype(
        np.int32
    )
