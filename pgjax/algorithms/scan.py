"""The run driver: `init`, then a `lax.scan` of `update`, for one run, a batch of seeds
or runs with their own hyperparameters; optionally reporting every iteration to the host
from inside the compiled program, which can stop it at the next iteration boundary.

Everything that runs iterations goes through `run_updates`: `train`, `train_batch`,
`train_runs` (sweeps), `continue_training` and `continue_runs` (checkpointed training,
which runs the same iterations in chunks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from pgjax.checks import check_positive_int


def sweepable_fields(config) -> list[str]:
    """Fields of `config` that may differ between runs of one program: the numeric
    (`hyper`) ones, which are traced leaves."""
    return [f.name for f in dataclasses.fields(config) if f.metadata.get("pytree_node", True)]


def stack_runs(config, points: list[dict[str, Any]], num_seeds: int):
    """One `Config` whose every numeric leaf is an `[P·S]` array: run `p·S + s` holds point
    `p`'s values (the `configs` of `train_runs`)."""
    stacked = {}
    for field in sweepable_fields(config):
        dtype = jnp.asarray(getattr(config, field)).dtype
        per_point = [point.get(field, getattr(config, field)) for point in points]
        stacked[field] = np.repeat(np.asarray(per_point, dtype=dtype), num_seeds)
    return config.replace(**stacked)


# How `run_updates` maps `update(config, state)` over runs.
ONE_RUN = "one"  # one config, one state
SHARED_CONFIG = "shared"  # one config, states with a leading run axis (seeds)
PER_RUN_CONFIG = "per_run"  # configs and states with a leading run axis (a sweep)


def hand_block(callback: Callable, block) -> bool:
    """Give a block of iterations' host metrics (NumPy leaves `[k, ...]`) to `callback`: all at
    once as `callback.report_block(block)` if it has that method, else `callback(metrics)` for
    each iteration in order. Returns the stop request: whether any answer was True."""
    if hasattr(callback, "report_block"):
        answers = [callback.report_block(block)]
    else:
        answers = [callback(jax.tree.map(lambda leaf: leaf[i], block)) for i in range(len(jax.tree.leaves(block)[0]))]
    return any(isinstance(answer, (bool, np.bool_)) and bool(answer) for answer in answers)


def _report(callback: Callable, block):
    """Hand a block of iterations' metrics (leaves `[k, ...]`) to `callback` on the host
    (`hand_block`); the answer is a stop request (a bool array)."""
    # Hand the host plain NumPy copies: device arrays kept alive past the
    # callback can deadlock the runtime that is still executing the program.
    def host(block):
        return np.bool_(hand_block(callback, jax.tree.map(np.asarray, block)))

    return io_callback(host, jax.ShapeDtypeStruct((), jnp.bool_), block)


def block_length(num_iterations: int, report_every: int) -> int:
    """The iterations run between two reports: the largest divisor of `num_iterations` that is
    at most `report_every`, so that every block is the same compiled loop."""
    check_positive_int("report_every", report_every)
    return max(k for k in range(1, min(report_every, max(num_iterations, 1)) + 1) if num_iterations % k == 0)


def _scan(step_fn, state, num_iterations: int, callback: Callable | None, report_every: int):
    """`num_iterations` scanned `step_fn(state) -> (state, metrics)`; see `run_updates`."""
    if callback is None:
        return jax.lax.scan(lambda state, _: step_fn(state), state, None, length=num_iterations)
    k = block_length(num_iterations, report_every)

    def run(state):
        # k plain iterations, then one trip to the host: leaving the compiled program (and the
        # `cond` that skips stopped blocks) costs about as much as a small iteration itself.
        state, block = jax.lax.scan(lambda state, _: step_fn(state), state, None, length=k)
        return state, block, _report(callback, block)

    metrics_like = jax.eval_shape(step_fn, state)[1]

    def skip(state):
        block = jax.tree.map(lambda s: jnp.zeros((k,) + s.shape, s.dtype), metrics_like)
        return state, block, jnp.ones((), jnp.bool_)

    def body(carry, _):
        state, stopped = carry
        state, block, stop = jax.lax.cond(stopped, skip, run, state)
        return (state, stop), block

    (state, _), blocks = jax.lax.scan(body, (state, jnp.zeros((), jnp.bool_)), None, length=num_iterations // k)
    return state, jax.tree.map(lambda b: b.reshape((num_iterations,) + b.shape[2:]), blocks)


def run_updates(
    update_fn: Callable, config, state, num_iterations: int, callback: Callable | None = None,
    runs: str = ONE_RUN, report_every: int = 1,
):
    """`num_iterations` scanned `update_fn(config, state) -> (state, metrics)` from `state`.

    `runs` says how the update maps over runs: `ONE_RUN`; `SHARED_CONFIG` (leaves of
    `state` carry a leading run axis `[R]`); `PER_RUN_CONFIG` (every traced leaf of
    `config` carries it too). The scan over iterations sits outside the vmap, so
    `callback(metrics)` runs on the host once per iteration with `[R]` leaves; if it
    returns True, the remaining iterations are skipped (their metrics are zeros;
    `state.iteration` tells how many ran), so a host can end a compiled run at the next
    iteration boundary (Ctrl-C, a diverged run, early stopping). A program holding such a
    callback is never stored in JAX's persistent compilation cache; the commands therefore
    report from the host between compiled blocks instead (`pgjax.runs.driver`).

    `report_every=k` trades liveness for speed: the program leaves for the host once per
    block of `block_length(num_iterations, k)` iterations (the largest divisor of
    `num_iterations` that is at most `k`), and `callback` is then called for each of the
    block's iterations in order, or once with the whole block (`[k, ...]` leaves) if it has
    a `report_block` method (`hand_block`). A stop request then takes effect at the end of its block,
    and every iteration of that block is kept (and was reported). The numbers do not depend
    on `k`: the same iterations run in the same order.

    Running in chunks gives the numbers of one run: everything that changes lives in
    `state` (the learning-rate schedule reads the optimiser's own step count and
    `config.num_iterations`, never the chunk length).
    Returns `(state, metrics [num_iterations, ...])`.
    """
    if runs == ONE_RUN:
        step_fn = lambda s: update_fn(config, s)  # noqa: E731
    elif runs == SHARED_CONFIG:
        step_fn = jax.vmap(lambda s: update_fn(config, s))
    elif runs == PER_RUN_CONFIG:
        step_fn = lambda s: jax.vmap(update_fn)(config, s)  # noqa: E731
    else:
        raise ValueError(f"runs: must be one of {ONE_RUN!r}, {SHARED_CONFIG!r}, {PER_RUN_CONFIG!r}, got {runs!r}")
    return _scan(step_fn, state, num_iterations, callback, report_every)


def train(init_fn, update_fn, config, key: chex.PRNGKey, callback: Callable | None = None, report_every: int = 1):
    """`init` then `num_iterations` scanned calls of `update`. Returns `(state, metrics [num_iterations])`.

    `callback(metrics)`, if given, runs on the host after every iteration (via
    `io_callback`), while the compiled program keeps running; if it returns True, the
    remaining iterations are skipped (see `run_updates`, also for `report_every`).
    """
    return run_updates(update_fn, config, init_fn(config, key), config.num_iterations, callback,
                       report_every=report_every)


def train_batch(init_fn, update_fn, config, keys: chex.PRNGKey, callback: Callable | None = None, report_every: int = 1):
    """Like `train`, for one run per key (`keys [S]`) vmapped inside one program.

    `callback` receives the metrics of all runs (`[S]` leaves) once per iteration.
    Returns `(states [S], metrics [num_iterations, S])`.
    """
    states = jax.vmap(init_fn, in_axes=(None, 0))(config, keys)
    return run_updates(update_fn, config, states, config.num_iterations, callback, SHARED_CONFIG,
                       report_every=report_every)


def train_runs(init_fn, update_fn, configs, keys: chex.PRNGKey, callback: Callable | None = None, report_every: int = 1):
    """Like `train_batch`, but each run has its own hyperparameters: every traced leaf of
    `configs` and `keys` carries a leading run axis `[R]` (run `r` is `configs[r]` with `keys[r]`).

    Static fields are shared, so all `R` runs are one program.
    Returns `(states [R], metrics [num_iterations, R])`.
    """
    states = jax.vmap(init_fn)(configs, keys)
    return run_updates(update_fn, configs, states, configs.num_iterations, callback, PER_RUN_CONFIG,
                       report_every=report_every)


def continue_training(
    update_fn, config, state, num_iterations: int, callback: Callable | None = None, report_every: int = 1,
):
    """`num_iterations` more scanned calls of `update` from `state` (`init`, then this k times, gives
    the numbers of one `train`). Returns `(state, metrics [num_iterations])`."""
    return run_updates(update_fn, config, state, num_iterations, callback, report_every=report_every)


def continue_runs(
    update_fn, configs, states, num_iterations: int, callback: Callable | None = None, report_every: int = 1,
):
    """`continue_training` for `R` runs with their own hyperparameters, as in `train_runs`.
    Returns `(states [R], metrics [num_iterations, R])`."""
    return run_updates(update_fn, configs, states, num_iterations, callback, PER_RUN_CONFIG, report_every=report_every)


def entry_points(init_fn: Callable, update_fn: Callable) -> tuple[Callable, Callable]:
    """An algorithm's `train(config, key, callback=None, report_every=1)` and
    `train_batch(config, keys, callback=None, report_every=1)`, built from its `init` and
    `update` (see `train` and `train_batch`)."""

    def train_one(config, key: chex.PRNGKey, callback: Callable | None = None, report_every: int = 1):
        return train(init_fn, update_fn, config, key, callback, report_every)

    def train_many(config, keys: chex.PRNGKey, callback: Callable | None = None, report_every: int = 1):
        return train_batch(init_fn, update_fn, config, keys, callback, report_every)

    train_one.__doc__, train_many.__doc__ = train.__doc__, train_batch.__doc__
    return train_one, train_many
