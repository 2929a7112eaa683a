"""Policies with memory: the carry through rollouts, replay and evaluation; the memory tasks.

The references are independent of the code under test: a recurrent rollout is checked
against the network stepped by hand over each episode from a fresh carry, and the
memory tasks against gymnax's own environments and a NumPy loop.
"""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax import a2c, ppo, ppo_kl, trpo
from pgjax.algorithms import acting, build, learning

EPISODE = 4  # steps per RepeatPrevious episode in the small configs


def small_gru(module=ppo, **fields):
    defaults = dict(
        network="gru", gru_size=8, hidden_sizes=(8,), num_envs=4, num_steps=10, total_timesteps=80,
        env_params=(("max_steps_in_episode", EPISODE), ("delay", 1)),
    )
    if module in (ppo, ppo_kl):
        defaults["num_minibatches"] = 2
    return module.Config.for_env("RepeatPrevious-v0", **{**defaults, **fields})


@pytest.fixture(scope="module")
def gru_rollout():
    config = small_gru()
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
    np.testing.assert_array_equal(np.asarray(start_carry), np.zeros((config.num_envs, config.gru_size)))

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
    batch = learning.advantage_batch(config, trajectory, carry)
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


def test_every_recurrent_algorithm_updates_and_evaluates():
    for module in (ppo, a2c, ppo_kl):
        config = small_gru(module)
        state, metrics = jax.jit(lambda k: module.train(config, k))(jax.random.key(1))
        assert np.all(np.isfinite(np.asarray(metrics["loss"]))), module.__name__
        returns = jax.jit(lambda s, k: module.evaluate(config, s, k, 3))(state, jax.random.key(2))
        assert returns.shape == (3,) and np.all(np.abs(np.asarray(returns)) <= EPISODE - 1)


def test_recurrent_minibatches_must_divide_the_environments():
    with pytest.raises(ValueError, match="num_minibatches: must divide num_envs = 4 with a recurrent network"):
        small_gru(num_minibatches=3)
    small_gru(network="mlp", num_minibatches=8)  # feed-forward minibatches are transitions: 40 / 8


def test_algorithms_without_sequence_replay_refuse_a_recurrent_network():
    with pytest.raises(ValueError, match="network: 'gru' is recurrent, which trpo does not support"):
        trpo.Config.for_env("CartPole-positions-v1", network="gru")


def test_unknown_network_is_refused_by_name():
    with pytest.raises(ValueError, match="network: must be one of the registered networks"):
        ppo.Config(network="lstm")


def test_a_registered_network_is_built_from_its_name():
    from pgjax.networks import NETWORKS, Recurrent, RecurrentActorCritic, register_network

    def wide_gru(action_dim, discrete, obs_ndim, config):
        return Recurrent(RecurrentActorCritic(action_dim, discrete, obs_ndim, hidden_sizes=(16,), gru_size=16))

    register_network("test_wide_gru", wide_gru, recurrent=True)
    try:
        config = ppo.Config.for_env("RepeatPrevious-v0", network="test_wide_gru", num_minibatches=2)
        assert config.recurrent
        state = build.init_state(config, jax.random.key(0))
        assert state.carry.shape == (config.num_envs, 16)
        with pytest.raises(ValueError, match="network: 'test_wide_gru' is already registered"):
            register_network("test_wide_gru", wide_gru, recurrent=True)
    finally:
        NETWORKS.pop("test_wide_gru")


# ---------------------------------------------------------------- the memory tasks


@pytest.mark.parametrize("name, base, keep", [
    ("CartPole-positions-v1", "CartPole-v1", (0, 2)), ("Pendulum-positions-v1", "Pendulum-v1", (0, 1)),
])
def test_hidden_velocity_tasks_show_the_positions_of_the_full_task(name, base, keep):
    env, params = gymnax.make(name)
    full_env, full_params = gymnax.make(base)
    key = jax.random.key(4)
    obs, state = env.reset(key, params)
    full_obs, full_state = full_env.reset(key, full_params)
    assert env.observation_space(params).shape == (len(keep),)
    for t in range(30):
        key, step_key = jax.random.split(key)
        action = env.action_space(params).sample(step_key)
        obs, state, reward, terminated, truncated, _ = env.step(step_key, state, action, params)
        full_obs, full_state, full_reward, full_terminated, _, _ = full_env.step(step_key, full_state, action, full_params)
        np.testing.assert_array_equal(np.asarray(obs), np.asarray(full_obs)[list(keep)])
        assert float(reward) == float(full_reward) and bool(terminated) == bool(full_terminated)


def test_repeat_previous_rewards_naming_the_card_shown_delay_steps_earlier():
    env, params = gymnax.make("RepeatPrevious-v0")
    params = params.replace(delay=2, max_steps_in_episode=12)
    key = jax.random.key(5)
    obs, state = env.reset(key, params)
    shown, actions, rewards, dones = [int(np.argmax(obs))], [], [], []
    for t in range(params.max_steps_in_episode):
        key, step_key, action_key = jax.random.split(key, 3)
        # Right about half the time, so both rewards occur.
        action = shown[t - 2] if t >= 2 and t % 2 else int(jax.random.randint(action_key, (), 0, 4))
        obs, state, reward, terminated, truncated, _ = env.step(step_key, state, action, params)
        actions.append(action), rewards.append(float(reward)), dones.append(bool(terminated | truncated))
        shown.append(int(np.argmax(obs)))
    expected = [0.0 if t < 2 else (1.0 if actions[t] == shown[t - 2] else -1.0) for t in range(12)]
    assert rewards == expected and 1.0 in rewards and -1.0 in rewards
    assert dones == [False] * 11 + [True]


def test_memory_tasks_are_listed():
    for name in ("CartPole-positions-v1", "Pendulum-positions-v1", "RepeatPrevious-v0", "MemoryChain-bsuite"):
        assert name in gymnax.registered_envs


# ---------------------------------------------------------------- learning


@pytest.mark.learning
def test_ppo_gru_remembers_the_context_of_memory_chain(trained_returns, assert_reached):
    """MemoryChain shows the context only at the first step and asks for it 5 steps later:
    a feed-forward policy can only guess (benchmarks/memory.md), the GRU preset must know."""
    config = ppo.Config.for_env("MemoryChain-bsuite")
    assert config.network == "gru"
    assert_reached(trained_returns(ppo, config, num_seeds=3, seed=0), 0.9, k=2)
