"""Shared test helpers that stand outside pgjax, so expectations do not reuse the code under test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control.cartpole import CartPole, EnvState


@pytest.fixture(scope="session")
def cartpole_next_obs():
    """`(obs [N, 4], action [N], env_params) -> s_{t+1} [N, 4]` from CartPole's own dynamics.

    A CartPole observation is its whole physical state, so the true next
    observation (before any automatic reset) follows from one call of gymnax's
    `step_env` on a state rebuilt from the observation: an independent way to
    know what `final_observation` must be.
    """
    env = CartPole()

    @jax.jit
    def successor(obs, action, params):
        def one(o, a):
            state = EnvState(x=o[0], x_dot=o[1], theta=o[2], theta_dot=o[3], time=0)
            return env.step_env(jax.random.PRNGKey(0), state, a, params)[0]

        return jax.vmap(one)(obs, action)

    return lambda obs, action, params: np.asarray(successor(jnp.asarray(obs), jnp.asarray(action), params))
