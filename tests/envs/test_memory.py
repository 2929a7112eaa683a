"""The memory tasks (`pgjax.envs.memory`): hidden-velocity tasks against gymnax's own full
tasks, RepeatPrevious against a loop. Policies that solve them: tests/algorithms/test_recurrent.py
and tests/learning/."""

import gymnax
import jax
import numpy as np
import pytest

import pgjax.envs  # noqa: F401  (registers the memory tasks with gymnax)


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


