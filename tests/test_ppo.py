"""PPO: configuration rules, purity (determinism, vmap), and learning to a return threshold."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax import ppo

TINY = dict(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 3, hidden_sizes=(16,), num_minibatches=2, update_epochs=2)


def tiny(env="CartPole-v1", **overrides):
    return ppo.Config.for_env(env, **{**TINY, **overrides})


@pytest.mark.parametrize(
    "field, value, rule",
    [
        ("num_envs", 0, "positive integer"),
        ("num_steps", -3, "positive integer"),
        ("num_envs", 2.5, "positive integer"),
        ("gamma", 1.5, "[0, 1]"),
        ("gae_lambda", -0.1, "[0, 1]"),
        ("learning_rate", -1e-3, "> 0"),
        ("learning_rate", float("nan"), "finite"),
        ("learning_rate", "fast", "> 0"),
        ("clip_eps", 0.0, "> 0"),
        ("ent_coef", -0.01, ">= 0"),
        ("max_grad_norm", 0.0, "> 0"),
        ("update_epochs", 0, "positive integer"),
        ("hidden_sizes", (64, 0), "positive integers"),
        ("hidden_sizes", [64, 64], "tuple"),
        ("activation", "sigmoidish", "one of"),
        ("anneal_lr", "yes", "True or False"),
        ("env", "CartPole-v7", "gymnax-registered"),
        ("env_params", (("max_steps_in_episodes", 10),), "max_steps_in_episodes"),
        ("num_minibatches", 3, "divide"),
        ("total_timesteps", 100, "at least"),
    ],
)
def test_invalid_field_raises_naming_field_and_rule(field, value, rule):
    with pytest.raises(ValueError) as error:
        ppo.Config(**{field: value})
    message = str(error.value)
    assert message.startswith(f"{field}:") or f"{field}:" in message
    assert rule in message


def test_invalid_value_inside_vmapped_array_is_caught():
    with pytest.raises(ValueError, match="learning_rate: must be > 0"):
        ppo.Config().replace(learning_rate=jnp.array([1e-3, -1e-3]))


def test_unknown_override_lists_known_fields():
    with pytest.raises(ValueError, match="lerning_rate: unknown field.*learning_rate"):
        ppo.Config.for_env("CartPole-v1", lerning_rate=1e-3)


def test_errors_come_before_any_compilation(monkeypatch):
    compiled = []
    monkeypatch.setattr(jax, "jit", lambda *a, **k: compiled.append(a))
    with pytest.raises(ValueError):
        ppo.Config.for_env("CartPole-v1", num_envs=0)
    assert compiled == []


def test_static_and_traced_fields():
    leaves = jax.tree.leaves(ppo.Config())
    config = ppo.Config()
    traced = {config.learning_rate, config.gamma, config.gae_lambda, config.clip_eps,
              config.ent_coef, config.vf_coef, config.max_grad_norm}
    assert set(leaves) == traced
    assert pgjax.ALGORITHMS["ppo"] is ppo


def test_presets_exist_and_overrides_apply():
    for env in ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0",
                "Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar"]:
        config = ppo.Config.for_env(env, total_timesteps=12345678)
        assert config.env == env and config.total_timesteps == 12345678
    # Every MinAtar game has a preset, and each is one of the recipes benchmarks/minatar.md compares.
    for game in ppo.MINATAR_GAMES:
        assert ppo.Config.PRESETS[game] in ppo.MINATAR_RECIPES.values()
    assert ppo.Config.for_env("Catch-bsuite").learning_rate == ppo.Config().learning_rate


def test_training_is_deterministic_and_metrics_have_iteration_axis():
    config = tiny()
    train = jax.jit(ppo.train)
    state_a, metrics_a = train(config, jax.random.key(3))
    state_b, metrics_b = train(config, jax.random.key(3))
    jax.tree.map(np.testing.assert_array_equal, state_a.params, state_b.params)
    jax.tree.map(np.testing.assert_array_equal, metrics_a, metrics_b)
    assert metrics_a["env_steps"].tolist() == [128, 256, 384]
    for name in ["episode_return", "episode_count", "loss", "approx_kl", "clip_fraction", "entropy"]:
        assert metrics_a[name].shape == (config.num_iterations,)
    _, metrics_c = train(config, jax.random.key(4))
    assert not np.array_equal(metrics_a["loss"], metrics_c["loss"])


def test_vmap_over_learning_rate_equals_separate_runs():
    config = tiny()
    key = jax.random.key(0)
    learning_rates = jnp.array([1e-2, 1e-4])
    _, batched = jax.jit(jax.vmap(lambda lr: ppo.train(config.replace(learning_rate=lr), key)))(learning_rates)
    for i, lr in enumerate([1e-2, 1e-4]):
        _, single = jax.jit(ppo.train)(config.replace(learning_rate=lr), key)
        np.testing.assert_allclose(batched["loss"][i], single["loss"], rtol=2e-5, atol=1e-6)
    assert not np.allclose(batched["loss"][0], batched["loss"][1])


def test_train_batch_matches_vmapped_train_and_reports_every_iteration():
    config = tiny()
    keys = jax.random.split(jax.random.key(1), 3)
    seen = []
    _, batched = jax.jit(lambda k: ppo.train_batch(config, k, callback=lambda m: seen.append(m["env_steps"])))(keys)
    jax.block_until_ready(batched)
    _, vmapped = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(config, keys)
    np.testing.assert_allclose(np.swapaxes(batched["loss"], 0, 1), vmapped["loss"], rtol=2e-5, atol=1e-6)
    assert [s.tolist() for s in seen] == [[128] * 3, [256] * 3, [384] * 3]


@pytest.mark.parametrize("env, overrides", [
    ("Pendulum-v1", dict(normalize_observations=True, scale_rewards=True)),
    ("Breakout-MinAtar", dict(hidden_sizes=(16,))),
    ("Catch-bsuite", {}),
])
def test_continuous_image_and_grid_observations_train_and_evaluate(env, overrides):
    config = tiny(env, **overrides)
    state, metrics = jax.jit(ppo.train)(config, jax.random.key(0))
    assert np.all(np.isfinite(metrics["loss"]))
    returns = jax.jit(ppo.evaluate, static_argnums=(3, 4))(config, state, jax.random.key(1), 3, True)
    assert returns.shape == (3,) and np.all(np.isfinite(returns))


def test_evaluation_uses_the_trained_observation_statistics():
    config = tiny("Pendulum-v1", normalize_observations=True)
    state, _ = jax.jit(ppo.train)(config, jax.random.key(0))
    shifted = state.replace(env_state=state.env_state.replace(
        obs_stats=state.env_state.obs_stats.replace(mean=state.env_state.obs_stats.mean + 100.0)))
    evaluate = jax.jit(ppo.evaluate, static_argnums=(3, 4))
    a = evaluate(config, state, jax.random.key(1), 2, True)
    b = evaluate(config, shifted, jax.random.key(1), 2, True)
    assert not np.allclose(a, b)


# Learning: several seeds per test, k of n at the threshold (see `trained_returns` in conftest).
@pytest.mark.learning
def test_ppo_solves_cartpole_within_500k_steps(trained_returns, assert_reached):
    config = ppo.Config.for_env("CartPole-v1")
    assert config.total_timesteps <= 500_000
    assert_reached(trained_returns(ppo, config, num_seeds=3, seed=2024), 475, k=2)


@pytest.mark.learning
def test_ppo_swings_up_pendulum_within_1m_steps(trained_returns, assert_reached):
    config = ppo.Config.for_env("Pendulum-v1")
    assert config.total_timesteps <= 1_000_000
    assert_reached(trained_returns(ppo, config, num_seeds=3, seed=7), -250, k=2)
