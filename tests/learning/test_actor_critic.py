"""A2C, PPO-KL and TRPO learn CartPole, and A2C Catch (their presets' budgets, <= 1M steps).

The seeds move with the suite's seed offset and are not the ones the presets were tuned on;
k of n seeds must reach the threshold (see `trained_returns` in tests/conftest.py).
"""

import pytest

from pgjax import a2c, ppo_kl, trpo

pytestmark = pytest.mark.learning

MODULES = {"a2c": a2c, "ppo_kl": ppo_kl, "trpo": trpo}


@pytest.mark.parametrize("name", MODULES)
def test_solves_cartpole(name, trained_returns, assert_reached):
    config = MODULES[name].Config.for_env("CartPole-v1")
    assert config.total_timesteps <= 1_000_000
    assert_reached(trained_returns(MODULES[name], config, num_seeds=3, seed=2024, num_episodes=64), 475, k=2)


# Every critic algorithm learns CartPole above; the second task (Catch) is trained by one
# of them, A2C, the cheapest, to keep the suite's run within CI's budget on 2 cores.
def test_a2c_catches_the_ball(trained_returns, assert_reached):
    config = a2c.Config.for_env("Catch-bsuite")
    # A random policy scores about -0.6.
    assert_reached(trained_returns(a2c, config, num_seeds=3, seed=2024, num_episodes=64), 0.5, k=2)
