"""PPO beyond the protocol (tests/algorithms/test_protocol.py): its MinAtar presets, image and
grid observations, `train_batch`'s numbers and reports, and evaluation under the trained
observation statistics. Its learning: tests/learning/."""

import jax
import numpy as np
import pytest

from pgjax import ppo
from pgjax.algorithms import presets


def test_minatar_presets_are_the_compared_recipes_and_untuned_envs_get_the_defaults():
    # Every MinAtar game has a preset, and each is one of the recipes benchmarks/minatar.md compares.
    for game in presets.MINATAR_GAMES:
        assert ppo.Config.PRESETS[game] in presets.MINATAR_RECIPES.values()
    assert "Catch-bsuite" not in ppo.Config.PRESETS
    assert ppo.Config.for_env("Catch-bsuite").learning_rate == ppo.Config().learning_rate


def test_train_batch_matches_separate_runs_and_reports_every_iteration(tiny):
    config = tiny("ppo")
    keys = jax.random.split(jax.random.key(1), 3)
    seen = []
    _, batched = jax.jit(lambda k: ppo.train_batch(config, k, callback=lambda m: seen.append(m["env_steps"])))(keys)
    jax.block_until_ready(batched)
    assert [s.tolist() for s in seen] == [[128] * 3, [256] * 3, [384] * 3]
    train = jax.jit(ppo.train)  # the protocol test's program
    for i, key in enumerate(keys):
        _, single = train(config, key)
        np.testing.assert_allclose(batched["loss"][:, i], single["loss"], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("env", ["Breakout-MinAtar", "Catch-bsuite"])
def test_image_and_grid_observations_train_and_evaluate(env, tiny):
    config = tiny("ppo", env)
    state, metrics = jax.jit(ppo.train)(config, jax.random.key(0))
    assert np.all(np.isfinite(metrics["loss"]))
    returns = jax.jit(ppo.evaluate, static_argnums=(3, 4))(config, state, jax.random.key(1), 3, True)
    assert returns.shape == (3,) and np.all(np.isfinite(returns))


def test_evaluation_uses_the_trained_observation_statistics(tiny):
    config = tiny("ppo", "Pendulum-v1")  # the protocol test's continuous run: its preset normalises observations
    assert config.normalize_observations
    state, _ = jax.jit(ppo.train)(config, jax.random.key(0))
    shifted = state.replace(env_state=state.env_state.replace(
        obs_stats=state.env_state.obs_stats.replace(mean=state.env_state.obs_stats.mean + 100.0)))
    evaluate = jax.jit(ppo.evaluate, static_argnums=(3, 4))
    a = evaluate(config, state, jax.random.key(1), 3, True)
    b = evaluate(config, shifted, jax.random.key(1), 3, True)
    assert not np.allclose(a, b)
