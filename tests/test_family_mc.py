"""REINFORCE, RLOO and GRPO: configuration rules, the protocol, the estimators they
are built from, continuous actions, and learning to a return threshold."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax import grpo, reinforce, rloo
from pgjax.rollout import Episodes

MODULES = [reinforce, rloo, grpo]
GROUPS = dict(num_envs=4, num_groups=2, group_size=2)


def tiny(module, env="CartPole-v1", **overrides):
    sizes = dict(num_steps=24, hidden_sizes=(16,), **(GROUPS if module is not reinforce else dict(num_envs=4)))
    if module is grpo:
        sizes.update(update_epochs=2, num_minibatches=2)
    sizes.update(overrides)
    batch = sizes["num_envs"] * sizes["num_steps"]
    return module.Config.for_env(env, total_timesteps=3 * batch, **sizes)


@pytest.mark.parametrize(
    "module, fields, field, rule",
    [
        (reinforce, dict(return_type="discounted"), "return_type", "one of episode, reward_to_go"),
        (reinforce, dict(baseline="critic"), "baseline", "one of none, batch_mean, value"),
        (reinforce, dict(vf_coef=-1.0), "vf_coef", ">= 0"),
        (reinforce, dict(ent_coef=-0.1), "ent_coef", ">= 0"),
        (reinforce, dict(normalize_observations=True), "normalize_observations", "episodic"),
        (rloo, dict(scale_rewards=True), "scale_rewards", "episodic"),
        (rloo, dict(num_envs=16, num_groups=16, group_size=1), "group_size", "at least 2"),
        (rloo, dict(num_envs=12, num_groups=4, group_size=4), "num_envs", "num_groups * group_size"),
        (grpo, dict(num_envs=8, num_groups=4, group_size=4), "num_envs", "num_groups * group_size"),
        (grpo, dict(num_groups=0), "num_groups", "positive integer"),
        (grpo, dict(num_minibatches=3, num_steps=10, total_timesteps=10_000), "num_minibatches", "divide"),
        (grpo, dict(clip_eps=0.0), "clip_eps", "> 0"),
        (grpo, dict(kl_coef=-0.5), "kl_coef", ">= 0"),
        (grpo, dict(advantage_eps=0.0), "advantage_eps", "> 0"),
        (grpo, dict(learning_rate=float("inf")), "learning_rate", "finite"),
    ],
)
def test_invalid_field_raises_naming_field_and_rule(module, fields, field, rule):
    with pytest.raises(ValueError) as error:
        module.Config(**fields)
    assert f"{field}:" in str(error.value) and rule in str(error.value), str(error.value)


def test_registry_presets_and_traced_fields():
    for module in MODULES:
        name = module.__name__.rsplit(".", 1)[1]
        assert pgjax.ALGORITHMS[name] is module is getattr(pgjax, name)
        for env in ["CartPole-v1", "Pendulum-v1", "Catch-bsuite"]:
            config = module.Config.for_env(env, total_timesteps=2_000_001)
            assert env in module.Config.PRESETS and config.total_timesteps == 2_000_001
        config = module.Config()
        # Every numeric hyperparameter is a leaf; structure is not.
        leaves = set(jax.tree.leaves(config))
        assert config.learning_rate in leaves and config.gamma in leaves and config.ent_coef in leaves
        assert all(isinstance(leaf, float) for leaf in jax.tree.leaves(config))
    assert {"clip_eps", "kl_coef", "advantage_eps"} <= {
        name for name in grpo.Config.field_names() if getattr(grpo.Config(), name) in jax.tree.leaves(grpo.Config())
    }


def _synthetic_episodes(rewards, alive, value):
    T, N = rewards.shape
    zeros = jnp.zeros((T, N))
    ends = (alive > 0) & (np.arange(T)[:, None] == (alive.sum(axis=0) - 1)[None])
    return Episodes(
        obs=jnp.zeros((T, N, 1)), action=jnp.zeros((T, N), jnp.int32), reward=jnp.asarray(rewards * alive),
        terminated=jnp.asarray(ends), truncated=jnp.zeros((T, N), bool), log_prob=zeros, value=jnp.asarray(value),
        next_value=zeros, episode_done=jnp.asarray(ends), episode_return=zeros, episode_length=zeros,
        reset=jnp.asarray(np.arange(T)[:, None] == 0).repeat(N, axis=1), alive=jnp.asarray(alive),
    )


def test_reinforce_returns_match_loop_for_both_return_types():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(6, 3)).astype(np.float32)
    alive = np.ones((6, 3), np.float32)
    alive[4:, 0] = 0.0
    alive[2:, 2] = 0.0
    episodes = _synthetic_episodes(rewards, alive, np.zeros((6, 3), np.float32))
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


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_training_is_deterministic_and_counts_every_simulated_step(module):
    config = tiny(module)
    train = jax.jit(module.train)
    state_a, metrics_a = train(config, jax.random.key(3))
    state_b, metrics_b = train(config, jax.random.key(3))
    jax.tree.map(np.testing.assert_array_equal, state_a.params, state_b.params)
    jax.tree.map(np.testing.assert_array_equal, metrics_a, metrics_b)
    # Masked steps after an episode's end are still simulated, so they count.
    assert metrics_a["env_steps"].tolist() == [96, 192, 288]
    # Only first episodes count: at most one per environment and iteration.
    assert np.all(metrics_a["episode_count"] <= config.num_envs) and metrics_a["episode_count"].sum() > 0
    for name in ["episode_return", "loss", "entropy", "learning_rate"]:
        assert metrics_a[name].shape == (3,) and np.all(np.isfinite(metrics_a[name])), name
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state_a.params, module.init(config, jax.random.key(3)).params)
    assert any(jax.tree.leaves(changed))


@pytest.mark.parametrize("module, overrides", [
    (reinforce, dict(return_type="episode", baseline="batch_mean", normalize_advantages=False)),
    (rloo, {}),
    (grpo, dict(kl_coef=0.1)),
], ids=["reinforce", "rloo", "grpo"])
def test_continuous_actions_train_and_evaluate(module, overrides):
    config = tiny(module, "Pendulum-v1", **overrides)
    state, metrics = jax.jit(module.train)(config, jax.random.key(0))
    assert np.all(np.isfinite(metrics["loss"])) and np.all(metrics["episode_count"] == 0)  # 24 < 200 steps
    returns = jax.jit(module.evaluate, static_argnums=(3, 4))(config, state, jax.random.key(1), 3, True)
    assert returns.shape == (3,) and np.all(np.isfinite(returns))


def test_grpo_kl_penalty_holds_the_policy_near_the_frozen_reference():
    config = tiny(grpo, "Catch-bsuite", num_steps=9, learning_rate=3e-2, anneal_lr=False)
    config = config.replace(total_timesteps=40 * config.batch_size)
    kl_coefs = jnp.array([0.0, 10.0])
    run = jax.jit(jax.vmap(lambda kl_coef: grpo.train(config.replace(kl_coef=kl_coef), jax.random.key(0))))
    states, metrics = run(kl_coefs)
    initial = grpo.init(config, jax.random.key(0))
    for i in range(2):  # the reference is the initial policy and never moves, while the policy does
        reference, params = jax.tree.map(lambda x: x[i], (states.reference_params, states.params))
        jax.tree.map(lambda r, p: np.testing.assert_allclose(r, p, rtol=1e-5, atol=1e-6), reference, initial.params)
        assert not np.allclose(params["params"]["actor_head"]["kernel"], reference["params"]["actor_head"]["kernel"])
    final_kl = metrics["reference_kl"][:, -5:].mean(axis=1)
    assert final_kl[1] < 0.5 * final_kl[0], final_kl


@pytest.mark.learning
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_solves_cartpole_within_2m_steps(module, trained_returns, assert_reached):
    config = module.Config.for_env("CartPole-v1")
    assert config.total_timesteps <= 2_000_000
    if module is rloo:
        # Half its preset's budget is plenty: at 1M steps 21 of 21 seeds (offsets 0-6) ended at
        # 488-500, and this test costs half the CI time. REINFORCE and GRPO keep the full 2M
        # (at 1M, 3 of 21 GRPO seeds ended below 450).
        config = module.Config.for_env("CartPole-v1", total_timesteps=1_000_000)
    assert_reached(trained_returns(module, config, num_seeds=3, seed=2024, num_episodes=64), 450, k=2)


@pytest.mark.learning
# One method is enough to show that episodic collection handles Catch's short episodes (each
# method's learning is shown on CartPole above); the others cost CI time for no new evidence.
@pytest.mark.parametrize("module", [grpo], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_beats_random_on_catch(module, trained_returns, assert_reached):
    config = module.Config.for_env("Catch-bsuite")
    # A random policy scores about -0.6.
    assert_reached(trained_returns(module, config, num_seeds=3, seed=2024, num_episodes=64), 0.5, k=2)
