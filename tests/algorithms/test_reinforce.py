"""REINFORCE beyond the protocol (tests/algorithms/test_protocol.py): its two kinds of return,
against a loop over synthetic episodes."""

import jax.numpy as jnp
import numpy as np

from pgjax import reinforce
from pgjax.rollout import Episodes


def synthetic_episodes(rewards, alive, value):
    """Episodes `[T, N]` with these rewards, each ending where `alive` does."""
    T, N = rewards.shape
    zeros = jnp.zeros((T, N))
    ends = (alive > 0) & (np.arange(T)[:, None] == (alive.sum(axis=0) - 1)[None])
    return Episodes(
        obs=jnp.zeros((T, N, 1)), action=jnp.zeros((T, N), jnp.int32), reward=jnp.asarray(rewards * alive),
        terminated=jnp.asarray(ends), truncated=jnp.zeros((T, N), bool), log_prob=zeros, value=jnp.asarray(value),
        next_value=zeros, episode_done=jnp.asarray(ends), episode_return=zeros, episode_length=zeros,
        reset=jnp.asarray(np.arange(T)[:, None] == 0).repeat(N, axis=1), alive=jnp.asarray(alive),
    )


def test_returns_match_a_loop_for_both_return_types():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(6, 3)).astype(np.float32)
    alive = np.ones((6, 3), np.float32)
    alive[4:, 0] = 0.0
    alive[2:, 2] = 0.0
    episodes = synthetic_episodes(rewards, alive, np.zeros((6, 3), np.float32))
    gamma = 0.9
    to_go = np.zeros((6, 3), np.float32)
    for i in range(3):
        length = int(alive[:, i].sum())
        for t in range(length):
            to_go[t, i] = sum(gamma ** (k - t) * rewards[k, i] for k in range(t, length))
    config = reinforce.Config(gamma=gamma)
    np.testing.assert_allclose(reinforce.returns(config.replace(return_type="reward_to_go"), episodes), to_go, atol=1e-5)
    whole = reinforce.returns(config.replace(return_type="episode"), episodes)
    np.testing.assert_allclose(whole, alive * to_go[0][None], atol=1e-5)
