"""The algorithm protocol, one conformance test for every module in `pgjax.ALGORITHMS`.

Each module is a `pgjax.runs.protocol.Algorithm` and behaves as DESIGN.md's contract says:
its `Config` refuses invalid values at construction, naming the field and the rule, before
any compilation; numeric hyperparameters are traced leaves and structure is static; every
preset builds; `train` is a pure function of `(config, key)` whose metrics carry an
iteration axis; a config whose hyperparameter is an array vmaps into one agent per value;
`train_batch` gives every output a run axis (traced only here: its numbers are checked by the
learning tests and, for PPO, in tests/algorithms/test_ppo.py); continuous actions train and
`evaluate` returns one return per episode. What only one algorithm has (PPO-KL's adaptive β, TRPO's trust region,
REINFORCE's returns, GRPO's reference policy) is tested in that algorithm's file.

Every training run is the `tiny` config of its algorithm (tests/conftest.py), so these
programs compile once and other tests reuse them.
"""

import dataclasses
import importlib
import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax.algorithms import build
from pgjax.algorithms.config import EpisodicConfig
from pgjax.runs.protocol import Algorithm

NAMES = list(pgjax.ALGORITHMS)

# ---------------------------------------------------------------- the module and its config


@pytest.mark.parametrize("name", NAMES)
def test_every_algorithm_is_an_algorithm_reachable_by_name(name):
    module = pgjax.ALGORITHMS[name]
    assert isinstance(module, Algorithm)
    assert module is getattr(pgjax, name) is importlib.import_module(f"pgjax.algorithms.{name}")


def test_a_module_missing_part_of_the_protocol_is_no_algorithm():
    parts = {part: getattr(pgjax.ppo, part) for part in ("Config", "init", "update", "evaluate", "train", "train_batch")}
    assert isinstance(types.SimpleNamespace(**parts), Algorithm)
    for missing in parts:
        assert not isinstance(types.SimpleNamespace(**{k: v for k, v in parts.items() if k != missing}), Algorithm)


# (field, value, words of the rule), checked on every algorithm whose Config has the field.
COMMON_INVALID = [
    ("num_envs", 0, "positive integer"),
    ("num_envs", 2.5, "positive integer"),
    ("num_steps", -3, "positive integer"),
    ("total_timesteps", 100, "at least"),
    ("update_epochs", 0, "positive integer"),
    ("num_minibatches", 3, "divide"),
    ("hidden_sizes", (64, 0), "positive integers"),
    ("hidden_sizes", [64, 64], "tuple"),
    ("activation", "sigmoidish", "one of"),
    ("anneal_lr", "yes", "True or False"),
    ("normalize_advantages", "yes", "True or False"),
    ("env", "CartPole-v7", "gymnax-registered"),
    ("env_params", (("max_steps_in_episodes", 10),), "max_steps_in_episodes"),
    ("gamma", 1.5, "[0, 1]"),
    ("gae_lambda", -0.1, "[0, 1]"),
    ("gae_lambda", 1.5, "[0, 1]"),
    ("learning_rate", -1e-3, "> 0"),
    ("learning_rate", float("nan"), "finite"),
    ("learning_rate", float("inf"), "finite"),
    ("learning_rate", "fast", "> 0"),
    ("max_grad_norm", 0.0, "> 0"),
    ("clip_eps", 0.0, "> 0"),
    ("ent_coef", -0.01, ">= 0"),
    ("vf_coef", -1.0, ">= 0"),
    ("loss_agg_mode", "mean", "one of token-mean"),
]
# (algorithm, fields, the field named, words of the rule): the rules only some algorithms have.
OWN_INVALID = [
    ("ppo_kl", dict(target_kl=0.0), "target_kl", "> 0"),
    ("ppo_kl", dict(init_kl_coef=-1.0), "init_kl_coef", "> 0"),
    ("trpo", dict(max_kl=0.0), "max_kl", "> 0"),
    ("trpo", dict(cg_damping=-0.1), "cg_damping", "> 0"),
    ("trpo", dict(backtrack_ratio=1.0), "backtrack_ratio", "(0, 1)"),
    ("trpo", dict(backtrack_ratio=0.0), "backtrack_ratio", "(0, 1)"),
    ("trpo", dict(cg_iterations=0), "cg_iterations", "positive integer"),
    ("trpo", dict(line_search_steps=2.5), "line_search_steps", "positive integer"),
    ("reinforce", dict(return_type="discounted"), "return_type", "one of episode, reward_to_go"),
    ("reinforce", dict(baseline="critic"), "baseline", "one of none, batch_mean, value"),
    ("reinforce", dict(normalize_observations=True), "normalize_observations", "episodic"),
    ("rloo", dict(scale_rewards=True), "scale_rewards", "episodic"),
    ("rloo", dict(num_envs=16, num_groups=16, group_size=1), "group_size", "at least 2"),
    ("rloo", dict(num_envs=12, num_groups=4, group_size=4), "num_envs", "num_groups * group_size"),
    ("grpo", dict(num_envs=8, num_groups=4, group_size=4), "num_envs", "num_groups * group_size"),
    ("grpo", dict(num_envs=16, num_groups=16, group_size=1), "group_size", "at least 2"),
    ("grpo", dict(num_groups=0), "num_groups", "positive integer"),
    ("grpo", dict(num_minibatches=3, num_steps=10, total_timesteps=10_000), "num_minibatches", "divide"),
    ("grpo", dict(kl_coef=-0.5), "kl_coef", ">= 0"),
    ("grpo", dict(advantage_eps=0.0), "advantage_eps", "> 0"),
    ("grpo", dict(clip_higher=-0.1), "clip_higher", ">= 0"),
    ("grpo", dict(kl_estimator="k4"), "kl_estimator", "one of exact, k1, k2, k3"),
    ("grpo", dict(baseline="critic"), "baseline", "one of group, batch"),
]
INVALID = [
    *[(name, {field: value}, field, rule) for name in NAMES for field, value, rule in COMMON_INVALID
      if field in pgjax.ALGORITHMS[name].Config.field_names()],
    *OWN_INVALID,
]


@pytest.mark.parametrize("name, fields, field, rule", INVALID)
def test_invalid_field_raises_naming_field_and_rule(name, fields, field, rule):
    with pytest.raises(ValueError) as error:
        pgjax.ALGORITHMS[name].Config(**fields)
    assert f"{field}:" in str(error.value) and rule in str(error.value), str(error.value)


def test_every_common_rule_is_checked_somewhere():
    checked = {(case[2], case[3]) for case in INVALID}
    assert all((field, rule) in checked for field, _, rule in COMMON_INVALID)


# One numeric hyperparameter per algorithm to vmap over, two values of it that train differently,
# and the metric compared between the batched and the separate runs.
SWEPT = {
    "ppo": ("learning_rate", [1e-2, 1e-4]),
    "a2c": ("learning_rate", [3e-2, 1e-4]),
    "ppo_kl": ("init_kl_coef", [1e-3, 100.0]),
    "trpo": ("max_kl", [1e-4, 0.05]),
    "reinforce": ("learning_rate", [3e-2, 1e-4]),
    "rloo": ("learning_rate", [3e-2, 1e-4]),
    "grpo": ("learning_rate", [3e-2, 1e-4]),
}
# Numeric leaves that the tiny config sets apart from the defaults for the sweep to matter.
SWEEP_BASE = {"ppo_kl": dict(learning_rate=1e-2)}
# How closely a vmapped run follows the same run alone (another batch under vmap, another float
# path): relative, on entropy and loss.
SWEEP_RTOL = {"ppo": 2e-5}


@pytest.mark.parametrize("name", NAMES)
def test_an_invalid_value_inside_a_vmapped_array_is_caught(name):
    for field in {"learning_rate", SWEPT[name][0]}:
        with pytest.raises(ValueError, match=f"{field}: must be > 0"):
            pgjax.ALGORITHMS[name].Config().replace(**{field: jnp.array([1e-3, -1e-3])})


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_override_lists_the_known_fields(name):
    with pytest.raises(ValueError, match="lerning_rate: unknown field.*did you mean learning_rate.*known fields: "):
        pgjax.ALGORITHMS[name].Config.for_env("CartPole-v1", lerning_rate=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_errors_come_before_any_compilation(name, monkeypatch):
    compiled = []
    monkeypatch.setattr(jax, "jit", lambda *a, **k: compiled.append(a))
    with pytest.raises(ValueError):
        pgjax.ALGORITHMS[name].Config.for_env("CartPole-v1", num_envs=0)
    assert compiled == []


# The numeric hyperparameters (traced leaves) of each Config; every other field is static.
TRACED = {
    "ppo": {"learning_rate", "gamma", "max_grad_norm", "gae_lambda", "ent_coef", "vf_coef", "clip_eps"},
    "a2c": {"learning_rate", "gamma", "max_grad_norm", "gae_lambda", "ent_coef", "vf_coef"},
    "ppo_kl": {"learning_rate", "gamma", "max_grad_norm", "gae_lambda", "target_kl", "init_kl_coef", "ent_coef",
               "vf_coef"},
    "trpo": {"learning_rate", "gamma", "max_grad_norm", "gae_lambda", "max_kl", "cg_damping", "backtrack_ratio"},
    "reinforce": {"learning_rate", "gamma", "max_grad_norm", "ent_coef", "vf_coef"},
    "rloo": {"learning_rate", "gamma", "max_grad_norm", "ent_coef"},
    "grpo": {"learning_rate", "gamma", "max_grad_norm", "ent_coef", "clip_eps", "clip_higher", "kl_coef",
             "advantage_eps"},
}
# DESIGN.md's canonical names: structure where an algorithm has the field, hyperparameters likewise.
CANONICAL_STATIC = {"env", "num_envs", "num_steps", "total_timesteps", "update_epochs", "num_minibatches",
                    "hidden_sizes", "activation", "anneal_lr", "normalize_advantages", "normalize_observations",
                    "cg_iterations", "line_search_steps"}
CANONICAL_TRACED = {"learning_rate", "gamma", "gae_lambda", "clip_eps", "ent_coef", "vf_coef", "max_grad_norm"}


@pytest.mark.parametrize("name", NAMES)
def test_hyperparameters_are_traced_leaves_and_structure_is_static(name):
    config = pgjax.ALGORITHMS[name].Config()
    fields = set(config.field_names())
    leaf_fields = {f.name for f in dataclasses.fields(config) if f.metadata.get("pytree_node", True)}
    assert leaf_fields == TRACED[name]
    leaves = jax.tree.leaves(config)
    assert len(leaves) == len(TRACED[name]) and all(isinstance(leaf, float) for leaf in leaves)
    assert CANONICAL_TRACED & fields <= leaf_fields
    assert CANONICAL_STATIC & fields <= fields - leaf_fields


# The environments each family is promised a preset for.
PROMISED_PRESETS = {
    "ppo": ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0",
            "Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar"],
    **{name: ["CartPole-v1", "Pendulum-v1", "Catch-bsuite", "Acrobot-v1"] for name in ("a2c", "ppo_kl", "trpo")},
    **{name: ["CartPole-v1", "Pendulum-v1", "Catch-bsuite"] for name in ("reinforce", "rloo", "grpo")},
}


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_builds_and_overrides_apply(name):
    module = pgjax.ALGORITHMS[name]
    assert set(PROMISED_PRESETS[name]) <= set(module.Config.PRESETS)
    for env in module.Config.PRESETS:
        config = module.Config.for_env(env, total_timesteps=12_345_678)
        assert config.env == env and config.total_timesteps == 12_345_678
        setup = build.build(config)  # the environment stack and the network, as a run makes them
        assert setup.env.num_envs == config.num_envs


# ---------------------------------------------------------------- training


EXPECTED_METRICS = {"env_steps", "episode_return", "episode_count", "episode_length", "entropy", "learning_rate"}
OWN_METRICS = {
    "ppo": {"loss", "approx_kl", "clip_fraction", "value_loss"},
    "a2c": {"loss", "value_loss"},
    "ppo_kl": {"loss", "value_loss", "kl", "kl_coef"},
    "trpo": {"value_loss", "kl", "step_fraction", "surrogate_improvement"},
    "reinforce": {"loss"},
    "rloo": {"loss"},
    "grpo": {"loss", "reference_kl", "reward_std", "frac_reward_zero_std"},
}


@pytest.fixture(scope="module", params=NAMES)
def trained(request, tiny):
    """`(module, config, train, (state, metrics))`: the tiny config trained from `key(3)`."""
    module = pgjax.ALGORITHMS[request.param]
    config = tiny(module).replace(**SWEEP_BASE.get(request.param, {}))
    train = jax.jit(module.train)
    return module, config, train, train(config, jax.random.key(3))


def test_training_is_deterministic_and_depends_on_the_key(trained):
    _, config, train, (state, metrics) = trained
    state_again, metrics_again = train(config, jax.random.key(3))
    jax.tree.map(np.testing.assert_array_equal, state.params, state_again.params)
    jax.tree.map(np.testing.assert_array_equal, metrics, metrics_again)
    _, other_key = train(config, jax.random.key(4))
    assert not np.array_equal(metrics["entropy"], other_key["entropy"])


def assert_finite(metrics):
    """Every metric finite, but the mean return of the episodes that ended in an iteration, which
    is NaN until the first one ends."""
    for metric, values in metrics.items():
        values = np.asarray(values)
        if metric == "episode_return":
            values = values[np.asarray(metrics["episode_count"]) > 0]
        assert np.all(np.isfinite(values)), metric


def test_metrics_have_an_iteration_axis_and_count_every_simulated_step(trained):
    module, config, _, (state, metrics) = trained
    name = module.__name__.rsplit(".", 1)[-1]
    assert EXPECTED_METRICS | OWN_METRICS[name] <= set(metrics)
    assert config.num_iterations == 3 and int(state.iteration) == 3
    assert all(values.shape[:1] == (3,) for values in metrics.values())
    # Episodic methods simulate the masked steps after an episode's end too, so they count.
    assert metrics["env_steps"].tolist() == [config.batch_size * (i + 1) for i in range(3)]
    assert_finite(metrics)
    assert metrics["episode_count"].sum() > 0
    if isinstance(config, EpisodicConfig):  # only first episodes count: at most one per environment
        assert np.all(metrics["episode_count"] <= config.num_envs)


def test_a_vmapped_hyperparameter_trains_one_agent_per_value(trained, train_per_value):
    module, config, train, _ = trained
    name = module.__name__.rsplit(".", 1)[-1]
    field, values = SWEPT[name]
    key = jax.random.key(3)
    singles = [train(config.replace(**{field: value}), key)[1] for value in values]  # the same program
    _, batched = train_per_value(module, config, field, jnp.array(values), key)
    for i, single in enumerate(singles):
        for metric in {"entropy", "loss"} & set(single):
            np.testing.assert_allclose(batched[metric][i], single[metric], rtol=SWEEP_RTOL.get(name, 2e-4), atol=1e-6,
                                       err_msg=metric)
    # The hyperparameter matters: the two runs part ways (so training moved the parameters).
    assert not np.allclose(batched["entropy"][0], batched["entropy"][1])


def test_train_batch_has_a_run_axis(trained):
    """Traced only (its numbers: the learning tests, and PPO's in tests/algorithms/test_ppo.py)."""
    module, config, _, (state, metrics) = trained
    states, batched = jax.eval_shape(lambda keys: module.train_batch(config, keys), jax.random.split(jax.random.key(0), 5))
    for single, leaf in zip(jax.tree.leaves(state), jax.tree.leaves(states)):
        assert leaf.shape == (5,) + single.shape
    assert set(batched) == set(metrics)
    assert all(batched[name].shape == (3, 5) + metrics[name].shape[1:] for name in metrics)


# Static switches the continuous runs also exercise (a program of its own either way).
CONTINUOUS = {
    "reinforce": dict(return_type="episode", baseline="batch_mean", normalize_advantages=False),
    "grpo": dict(kl_coef=0.1),
}


@pytest.mark.parametrize("name", NAMES)
def test_continuous_actions_train_and_evaluate(name, tiny):
    module = pgjax.ALGORITHMS[name]
    config = tiny(module, "Pendulum-v1", **CONTINUOUS.get(name, {}))
    state, metrics = jax.jit(module.train)(config, jax.random.key(0))
    assert_finite(metrics)
    if isinstance(config, EpisodicConfig):
        assert np.all(metrics["episode_count"] == 0)  # a 24-step window never ends a 200-step episode
    returns = jax.jit(module.evaluate, static_argnums=(3, 4))(config, state, jax.random.key(1), 3, True)
    # Pendulum pays at most 0 per step and runs 200 steps.
    assert returns.shape == (3,) and np.all(np.isfinite(returns)) and np.all(returns < 0)
    assert np.all(returns >= -200 * (math.pi**2 + 0.1 * 8**2 + 0.001 * 2**2))
