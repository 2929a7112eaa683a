"""Policies with memory: the carry through rollouts, replay and evaluation.

The reference is independent of the code under test: a recurrent rollout is checked
against the network stepped by hand over each episode from a fresh carry. The memory
tasks themselves: tests/envs/test_memory.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import a2c, ppo, ppo_kl
from pgjax.algorithms import acting, build, learning

EPISODE = 4  # steps per RepeatPrevious episode in the small configs


def small_gru(tiny, module=ppo, **fields):
    """The tiny GRU config on RepeatPrevious, 4-step episodes, 10 steps per iteration."""
    defaults = dict(network="gru", num_steps=10, env_params=(("max_steps_in_episode", EPISODE), ("delay", 1)))
    return tiny(module, "RepeatPrevious-v0", **{**defaults, **fields})


@pytest.fixture(scope="module")
def gru_rollout(tiny):
    config = small_gru(tiny)
    setup = build.build(config)
    state = build.init_state(config, jax.random.key(0))
    new_state, trajectory, carry = jax.jit(lambda s: acting.collect(config, setup, s))(state)
    return config, setup, state, new_state, trajectory, carry


def test_a_recurrent_rollout_across_resets_equals_each_episode_from_a_fresh_carry(gru_rollout):
    config, setup, state, _, trajectory, start_carry = gru_rollout
    network = setup.network
    reset = np.asarray(trajectory.reset)
    expected_reset = np.zeros_like(reset)
    expected_reset[::EPISODE] = True  # the first step and every automatic reset after it
    np.testing.assert_array_equal(reset, expected_reset)
    np.testing.assert_array_equal(np.asarray(start_carry), np.zeros((config.num_envs, config.network.gru_size)))

    step = jax.jit(lambda carry, obs: network.apply(state.params, carry, obs, jnp.zeros(obs.shape[:1], bool)))
    log_probs, values, leaked_values = [], [], []
    for i in range(config.num_envs):
        carry = leaked = network.initial_carry(1)
        for t in range(config.num_steps):
            if t % EPISODE == 0:
                carry = network.initial_carry(1)  # each episode from a fresh carry, stepped alone
            obs = trajectory.obs[t, i][None]
            carry, dist, value = step(carry, obs)
            leaked, _, leaked_value = step(leaked, obs)  # never reset: memory leaks across episodes
            log_probs.append(float(dist.log_prob(trajectory.action[t, i][None])[0]))
            values.append(float(value[0]))
            leaked_values.append(float(leaked_value[0]))
    shape = (config.num_envs, config.num_steps)
    np.testing.assert_allclose(np.asarray(trajectory.log_prob).T, np.reshape(log_probs, shape), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(trajectory.value).T, np.reshape(values, shape), rtol=1e-5, atol=1e-6)
    # The check can fail: without the reset, the second episode's values differ.
    assert np.max(np.abs(np.reshape(leaked_values, shape)[:, EPISODE:] - np.asarray(trajectory.value).T[:, EPISODE:])) > 1e-4


def test_replaying_stored_sequences_reproduces_the_rollout_exactly(gru_rollout):
    """Before any update, every minibatch of whole sequences replays to the rollout's
    log-probs: the PPO ratio is exactly 1 on the first minibatch of the first epoch."""
    config, setup, state, _, trajectory, carry = gru_rollout
    batch = learning.advantage_batch(config, setup, trajectory, carry)
    assert batch.obs.shape[:2] == (config.num_envs, config.num_steps)  # one row per environment sequence
    order = jax.random.permutation(jax.random.key(3), config.num_envs)
    minibatch = jax.tree.map(lambda x: x[order[: config.num_envs // 2]], batch)
    dist, values = jax.jit(lambda p, b: learning.replay(setup, p, b))(state.params, minibatch)
    ratio = np.exp(np.asarray(dist.log_prob(minibatch.action)) - np.asarray(minibatch.log_prob))
    np.testing.assert_array_equal(ratio, np.ones_like(ratio))
    np.testing.assert_array_equal(np.asarray(values), np.asarray(minibatch.value))


def test_the_rollout_hands_its_carry_to_the_next_segment(gru_rollout):
    config, setup, _, new_state, trajectory, _ = gru_rollout
    # The last step (t = 9) is inside an episode that started at t = 8: the carry after it is not fresh.
    assert np.abs(np.asarray(new_state.carry)).max() > 0
    np.testing.assert_array_equal(np.asarray(new_state.reset), np.asarray(trajectory.episode_done[-1]))


@pytest.mark.parametrize("module", [ppo, a2c, ppo_kl], ids=["ppo", "a2c", "ppo_kl"])
def test_every_recurrent_algorithm_updates_and_evaluates(module, tiny):
    config = small_gru(tiny, module)
    state, metrics = jax.jit(module.train)(config, jax.random.key(1))
    assert np.all(np.isfinite(np.asarray(metrics["loss"])))
    returns = jax.jit(module.evaluate, static_argnums=(3,))(config, state, jax.random.key(2), 3)
    assert returns.shape == (3,) and np.all(np.abs(np.asarray(returns)) <= EPISODE - 1)


def test_recurrent_minibatches_must_divide_the_environments(tiny):
    with pytest.raises(ValueError, match="num_minibatches: must divide num_envs = 4 with a recurrent network"):
        small_gru(tiny, num_minibatches=3)
    small_gru(tiny, network="mlp", num_minibatches=8)  # feed-forward minibatches are transitions: 40 / 8
