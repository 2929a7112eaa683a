"""Checkpoints of a training run with orbax: save, restore, and train in resumable chunks.

A run directory holds one numbered sub-directory per checkpoint; the number is the
count of iterations done. Each checkpoint has three items:

- `state`: the whole `TrainState` (parameters, optimiser state, environment states,
  observations, PRNG key, counters). PRNG keys are stored as their raw `uint32` data.
- `config`: the `Config`'s fields as JSON, so a run can be inspected or resumed
  without the code that started it knowing its settings.
- `history`: the per-iteration metrics so far (`[iterations done]` each). (Not called
  `metrics`: orbax's CheckpointManager reserves that item name for its own use.)

Because everything that changes lives in `TrainState` and the learning-rate schedule
reads `state.iteration` and `config.num_iterations` (not the chunk), training N
iterations straight gives the same numbers, bit for bit, as N/2, save, restore, N/2.

Crash safety: orbax writes each checkpoint into a temporary directory and renames it
into place once complete, and only finalised step directories count as checkpoints,
so a crash mid-write leaves the previous checkpoint as the latest usable one.

On several hosts (after `jax.distributed.initialize()`) every process must call
`save`/`restore`/`train_with_checkpoints` with the same arguments; orbax coordinates
the writes so that each array is written once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from pgjax.algorithms import core

# Two kept checkpoints: the newest, and the one before it in case the newest is being written.
MAX_TO_KEEP = 2


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _keys_to_data(tree):
    """Typed PRNG keys -> raw `uint32` arrays (orbax stores plain arrays only)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _manager(run_dir: str, create: bool) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=MAX_TO_KEEP, create=create)
    return ocp.CheckpointManager(os.path.abspath(run_dir), options=options)


def config_to_json(config) -> dict:
    """The config's fields as JSON-able values (tuples become lists, scalars plain numbers)."""

    def plain(value):
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, (np.ndarray, np.generic, jax.Array)):
            array = np.asarray(value)
            if array.ndim:
                raise ValueError(f"config: a checkpointed config must hold scalars, got an array of shape {array.shape}")
            return array.item()
        return value

    return {field.name: plain(getattr(config, field.name)) for field in dataclasses.fields(config)}


def config_from_json(algo, fields: dict):
    """Inverse of `config_to_json`: lists become tuples again (JSON has no tuples)."""

    def tupled(value):
        return tuple(tupled(v) for v in value) if isinstance(value, list) else value

    return algo.Config.make(**{name: tupled(value) for name, value in fields.items()})


def latest_step(run_dir: str) -> int | None:
    """Iterations done at the newest complete checkpoint in `run_dir`, or None if there is none."""
    if not os.path.isdir(run_dir):
        return None
    manager = _manager(run_dir, create=False)
    try:
        return manager.latest_step()
    finally:
        manager.close()


def save(run_dir: str, state: core.TrainState, config, metrics: dict) -> int:
    """Write checkpoint number `state.iteration` into `run_dir` and wait until it is complete.

    `metrics` holds the per-iteration metrics so far, each `[state.iteration]`. Returns the step.
    """
    step = int(state.iteration)
    manager = _manager(run_dir, create=True)
    try:
        _save(manager, step, state, config, metrics)
        manager.wait_until_finished()
    finally:
        manager.close()
    return step


def _save(manager, step, state, config, metrics):
    manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(_keys_to_data(state)),
            config=ocp.args.JsonSave(config_to_json(config)),
            history=ocp.args.StandardSave({name: np.asarray(value) for name, value in metrics.items()}),
        ),
    )


def restore(run_dir: str, algo, step: int | None = None, key=None):
    """Load `(state, config, metrics)` from checkpoint `step` (default: the latest complete one).

    `algo` is the algorithm module that wrote the run (it defines `Config`, `init`, `update`,
    which give the structure to restore into). `key` is any PRNG key of the kind the run was
    started with (typed `jax.random.key`, the default, or raw `jax.random.PRNGKey`); only its
    type is used. Raises `ValueError` if `run_dir` holds no complete checkpoint.
    """
    key = jax.random.key(0) if key is None else key
    manager = _manager(run_dir, create=False) if os.path.isdir(run_dir) else None
    try:
        step = step if step is not None or manager is None else manager.latest_step()
        if manager is None or step is None:
            raise ValueError(f"run_dir: {run_dir} holds no complete checkpoint")
        fields = manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]
        config = config_from_json(algo, fields)
        abstract_state = jax.eval_shape(algo.init, config, key)
        abstract_metrics = jax.eval_shape(algo.update, config, abstract_state)[1]
        # Restore plain NumPy arrays of the right shapes, then hand them to the default device.
        state_target = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(_keys_to_data, abstract_state))
        metrics_target = {name: np.zeros((step,) + s.shape, s.dtype) for name, s in abstract_metrics.items()}
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(state_target), history=ocp.args.StandardRestore(metrics_target)
            ),
        )
    finally:
        if manager is not None:
            manager.close()
    state = jax.tree.map(
        lambda data, like: jax.random.wrap_key_data(data, impl=jax.random.key_impl(key)) if _is_key(like) else data,
        restored["state"],
        abstract_state,
    )
    state = jax.tree.map(jax.numpy.asarray, state)
    return state, config, dict(restored["history"])


# Module-level so that repeated chunks (and repeated runs of one algorithm) reuse the compilation.
_run_chunk = jax.jit(core.continue_training, static_argnums=(0, 3, 4))
_init = jax.jit(lambda init_fn, config, key: init_fn(config, key), static_argnums=0)


def _differing_fields(a, b) -> list[str]:
    left, right = config_to_json(a), config_to_json(b)
    return [name for name in left if left[name] != right[name]]


def train_with_checkpoints(
    algo,
    config,
    key,
    run_dir: str,
    every_iterations: int,
    callback: Callable | None = None,
    resume: bool = False,
):
    """`algo.train(config, key)` in compiled chunks of `every_iterations`, checkpointing between chunks.

    Returns `(state, metrics [num_iterations])`, equal bit for bit to `algo.train(config, key)`.
    With `resume=True`, training continues from the latest complete checkpoint in `run_dir`
    (if there is none it starts afresh); the saved config must equal `config` and `key` is
    only used for its type. With `resume=False`, `run_dir` must not hold checkpoints already.
    `callback(metrics)` runs on the host after every iteration, as in `train`.

    Each chunk is one compiled program (at most two compilations: the full chunk and a
    shorter last one). Checkpoints are written asynchronously while the next chunk runs.
    """
    if not isinstance(every_iterations, (int, np.integer)) or every_iterations <= 0:
        raise ValueError(f"every_iterations: must be a positive integer, got {every_iterations!r}")
    existing = latest_step(run_dir)
    if existing is not None and not resume:
        raise ValueError(
            f"run_dir: {run_dir} already holds checkpoints (latest after {existing} iterations); "
            "pass resume=True to continue it, or choose a new directory"
        )
    if existing is not None:
        state, saved_config, metrics = restore(run_dir, algo, key=key)
        differing = _differing_fields(saved_config, config)
        if differing:
            raise ValueError(
                f"config: differs from the one saved in {run_dir} in field(s) {', '.join(differing)}; "
                "resume with the saved config"
            )
        metrics = {name: [value] for name, value in metrics.items()}
    else:
        state = _init(algo.init, config, key)
        metrics = None

    done = int(state.iteration)
    manager = _manager(run_dir, create=True)
    try:
        while done < config.num_iterations:
            length = min(every_iterations, config.num_iterations - done)
            state, chunk_metrics = _run_chunk(algo.update, config, state, length, callback)
            chunk_metrics = jax.tree.map(np.asarray, chunk_metrics)
            if metrics is None:
                metrics = {name: [] for name in chunk_metrics}
            for name, value in chunk_metrics.items():
                metrics[name].append(value)
            done += length
            # Wait for the previous write before starting the next (orbax allows one at a time).
            manager.wait_until_finished()
            _save(manager, done, state, config, {name: np.concatenate(parts) for name, parts in metrics.items()})
        manager.wait_until_finished()
    finally:
        manager.close()
    return state, {name: np.concatenate(parts) for name, parts in (metrics or {}).items()}
