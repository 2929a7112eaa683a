"""PPO learns: CartPole, Pendulum, and MemoryChain with a GRU (its presets' budgets).

Several seeds per test, k of n at the threshold (see `trained_returns` in tests/conftest.py);
the seeds move with the suite's seed offset and are not the ones the presets were tuned on.
"""

import pytest

from pgjax import ppo

pytestmark = pytest.mark.learning


def test_ppo_solves_cartpole_within_500k_steps(trained_returns, assert_reached):
    config = ppo.Config.for_env("CartPole-v1")
    assert config.total_timesteps <= 500_000
    assert_reached(trained_returns(ppo, config, num_seeds=3, seed=2024), 475, k=2)


def test_ppo_swings_up_pendulum_within_1m_steps(trained_returns, assert_reached):
    config = ppo.Config.for_env("Pendulum-v1")
    assert config.total_timesteps <= 1_000_000
    assert_reached(trained_returns(ppo, config, num_seeds=3, seed=7), -250, k=2)


def test_ppo_gru_remembers_the_context_of_memory_chain(trained_returns, assert_reached):
    """MemoryChain shows the context only at the first step and asks for it 5 steps later:
    a feed-forward policy can only guess (benchmarks/memory.md), the GRU preset must know."""
    config = ppo.Config.for_env("MemoryChain-bsuite")
    assert config.network.kind == "gru"
    assert_reached(trained_returns(ppo, config, num_seeds=3, seed=0), 0.9, k=2)
