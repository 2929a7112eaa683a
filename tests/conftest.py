"""Shared test helpers that stand outside pgjax, so expectations do not reuse the code under test.

- `tiny(algo, env, **overrides)`: the smallest valid config of any algorithm on any
  environment, the same sizes everywhere so that tests share compiled programs, and
  `train_per_value`, one jitted vmap over a hyperparameter for every test;
- `cartpole_next_obs`: CartPole's true next observation from its own dynamics;
- `trained_returns`, `assert_reached`, `seed_offset`: the learning tests' seeds and thresholds;
- the order in which files are handed to CI's workers (long ones first).
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control.cartpole import CartPole, EnvState

# The commands turn a per-user compilation cache on by default (`pgjax.cli.compile_cache`); the
# tests' commands write nothing to the user's home. JAX's own JAX_COMPILATION_CACHE_DIR, which
# CI sets, still applies to them.
os.environ.setdefault("PGJAX_COMPILE_CACHE", "off")
# The commands split the CPU into one device per core by default (`pgjax.cli.devices`); the
# tests' commands run on one device, whatever machine runs them, so their numbers and programs
# are the same everywhere. Tests of the default unset it.
os.environ.setdefault("PGJAX_DEVICES", "1")

# ---------------------------------------------------------------- tiny configs
#
# Structural (static) fields fix the compiled program, numeric (traced) ones do not: tests
# that build their config with `tiny` and change only numeric fields (`learning_rate`,
# `clip_eps`, ...) run one compiled program between them (JAX's in-memory cache within a
# process, its persistent cache, which CI sets, across processes).

# Per algorithm: 4 environments, and the fewest epochs and minibatches that still exercise
# the loops. Group methods need num_envs = num_groups * group_size; episodic ones simulate
# num_steps as one episode window.
TINY_SIZES = {
    "ppo": dict(num_envs=4, num_steps=32, update_epochs=2, num_minibatches=2),
    "ppo_kl": dict(num_envs=4, num_steps=32, update_epochs=2, num_minibatches=2),
    "a2c": dict(num_envs=4, num_steps=32),
    "trpo": dict(num_envs=4, num_steps=32, update_epochs=2, num_minibatches=2, cg_iterations=4, line_search_steps=4),
    "reinforce": dict(num_envs=4, num_steps=24),
    "rloo": dict(num_envs=4, num_groups=2, group_size=2, num_steps=24),
    "grpo": dict(num_envs=4, num_groups=2, group_size=2, num_steps=24, update_epochs=2, num_minibatches=2),
}
# Every network small: an MLP layer, a GRU and a one-block transformer of a few units.
TINY_NETWORKS = dict(hidden_sizes=(16,), gru_size=8, d_model=16, num_layers=1, num_heads=2)
TINY_ITERATIONS = 3


def tiny_config(algo, env: str = "CartPole-v1", *, iterations: int = TINY_ITERATIONS, **overrides):
    """The smallest valid config of `algo` (a name in `pgjax.ALGORITHMS` or the module) on
    `env`: its preset for `env` (so the environment's switches, such as observation
    normalisation, stay) with the sizes above, `iterations` iterations long, then `overrides`.

    On a token task one episode window is one answer (num_steps = the longest answer) and
    the transformer's cache holds one prompt and its answer. Recurrent networks take
    minibatches of whole environments, so 2 minibatches of the 4 environments divide them.
    """
    from pgjax.algorithms import ALGORITHMS
    from pgjax.envs.tokens import TOKEN_TASKS

    module = ALGORITHMS[algo] if isinstance(algo, str) else algo
    name = module.__name__.rsplit(".", 1)[-1]
    sizes = {**TINY_SIZES[name], **TINY_NETWORKS}
    if env in TOKEN_TASKS:
        task = TOKEN_TASKS[env]()
        sizes.update(num_steps=task.max_answer, max_len=task.max_len)
    sizes.update(overrides)
    if "total_timesteps" not in overrides:
        sizes["total_timesteps"] = iterations * sizes["num_envs"] * sizes["num_steps"]
    return module.Config.for_env(env, **sizes)


@pytest.fixture(scope="session")
def tiny():
    """`tiny(algo, env="CartPole-v1", *, iterations=3, **overrides) -> Config`: see `tiny_config`."""
    return tiny_config


@functools.partial(jax.jit, static_argnames=("module", "field"))
def _train_per_value(module, config, field: str, values, key):
    return jax.vmap(lambda value: module.train(config.replace(**{field: value}), key))(values)


@pytest.fixture(scope="session")
def train_per_value():
    """`(module, config, field, values [n], key) -> (states [n], metrics [n, iterations])`: one
    agent per value of the numeric hyperparameter `field`, vmapped in one program. One jitted
    function for every test, so tests that vmap the same config share its compilation."""
    return _train_per_value


@pytest.fixture(scope="session")
def cartpole_next_obs():
    """`(obs [N, 4], action [N], env_params) -> s_{t+1} [N, 4]` from CartPole's own dynamics.

    A CartPole observation is its whole physical state, so the true next
    observation (before any automatic reset) follows from one call of gymnax's
    `step_env` on a state rebuilt from the observation: an independent way to
    know what `final_observation` must be.
    """
    env = CartPole()

    @jax.jit
    def successor(obs, action, params):
        def one(o, a):
            state = EnvState(x=o[0], x_dot=o[1], theta=o[2], theta_dot=o[3], time=0)
            return env.step_env(jax.random.PRNGKey(0), state, a, params)[0]

        return jax.vmap(one)(obs, action)

    return lambda obs, action, params: np.asarray(successor(jnp.asarray(obs), jnp.asarray(action), params))


# ---------------------------------------------------------------- order of the files
#
# CI runs the suite on two workers, one file at a time each (`-n 2 --dist loadfile`), handing out
# files in collection order. The files that train agents take minutes each and the others
# seconds, so the long ones go first and the short ones fill in at the end: files with
# learning tests, then the rest, each group largest (most tests) first. (xdist's own order, by
# number of tests alone, would leave the few-but-long learning files for last.)


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def priority(file):
        tests = files[file]
        return (not any(item.get_closest_marker("learning") for item in tests), -len(tests))

    items[:] = [item for file in sorted(files, key=priority) for item in files[file]]


# ---------------------------------------------------------------- learning tests
#
# Learning outcomes depend on the floating-point path (CPU vector width, XLA's fusion
# choices, the batch size under vmap), so a learning test trains several seeds and asserts
# that k of them reach the threshold (2 of 3: a preset whose seeds fail 1 time in 20 fails
# such a test about 1 time in 100), with margins the presets meet on seeds they were not
# tuned on (`benchmarks/presets.md`). The seeds move with `PGJAX_TEST_SEED_OFFSET` (or `--seed-offset`), so the suite
# can be rerun on fresh seeds: `PGJAX_TEST_SEED_OFFSET=3 pytest -m learning`.


def pytest_addoption(parser):
    parser.addoption(
        "--seed-offset", type=int, default=None,
        help="added to every learning test's seeds (default: $PGJAX_TEST_SEED_OFFSET or 0)",
    )


@pytest.fixture(scope="session")
def seed_offset(pytestconfig) -> int:
    offset = pytestconfig.getoption("--seed-offset")
    return int(os.environ.get("PGJAX_TEST_SEED_OFFSET", "0")) if offset is None else offset


def pytest_report_header(config):
    offset = config.getoption("--seed-offset")
    offset = int(os.environ.get("PGJAX_TEST_SEED_OFFSET", "0")) if offset is None else offset
    return f"pgjax learning tests: seed offset {offset}"


@pytest.fixture(scope="session")
def trained_returns(seed_offset):
    """`(module, config, num_seeds, seed, num_episodes=32) -> [num_seeds]` mean evaluation
    return of each seed, all seeds trained together in one program (`train_batch`) from
    keys split off `jax.random.key(seed + offset)`; evaluation keys are split off another key."""

    def run(module, config, num_seeds: int, seed: int, num_episodes: int = 32) -> np.ndarray:
        root = jax.random.key(seed + seed_offset)
        train_key, eval_key = jax.random.split(root)
        states, _ = jax.jit(lambda keys: module.train_batch(config, keys))(jax.random.split(train_key, num_seeds))
        evaluate = jax.jit(jax.vmap(lambda state, key: module.evaluate(config, state, key, num_episodes)))
        return np.asarray(evaluate(states, jax.random.split(eval_key, num_seeds))).mean(axis=1)

    return run


@pytest.fixture(scope="session")
def assert_reached():
    """`(returns [n], threshold, k)`: at least `k` of the `n` seeds' returns are >= `threshold`."""

    def check(returns: np.ndarray, threshold: float, k: int) -> None:
        reached = int(np.sum(returns >= threshold))
        assert reached >= k, f"{reached} of {len(returns)} seeds reached {threshold} (need {k}): {np.round(returns, 1)}"

    return check
