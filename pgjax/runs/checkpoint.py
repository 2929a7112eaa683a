"""Checkpoints of a training run with orbax: save, restore, recover from a corrupt one.

A run directory holds one numbered sub-directory per checkpoint; the number is the
count of iterations done. Each checkpoint has four items:

- `state`: the whole `TrainState` (parameters, optimiser state, environment states,
  observations, PRNG key, counters). PRNG keys are stored as their raw `uint32` data.
- `config`: the `Config`'s fields as JSON, so a run can be inspected or resumed
  without the code that started it knowing its settings.
- `history`: the per-iteration metrics so far (`[iterations done]` each, `[iterations done, K]`
  for K runs). (Not called `metrics`: orbax's CheckpointManager reserves that item name.)
- `runs`: JSON `{"num_runs": K, "format": CHECKPOINT_FORMAT, "pgjax_version": "0.2.0"}`: K runs
  trained together (states with a leading `[K]` axis), `"num_runs": null` for one run, and the
  checkpoint format and the pgjax that wrote it. This item is read first: a checkpoint of another
  format (pgjax 0.1.0 saved none: format 1) raises `CheckpointFormatError`, a `ValueError` whose
  one line names the version that wrote it, and is never taken for a corrupt one.

Because everything that changes lives in `TrainState` and the learning-rate schedule
reads the optimiser's step count and `config.num_iterations` (not the chunk), training N
iterations straight gives the same numbers, bit for bit, as N/2, save, restore, N/2.

Crash safety: orbax writes each checkpoint into a temporary directory and renames it
into place once complete, and only finalised step directories count as checkpoints,
so a crash mid-write leaves the previous checkpoint as the latest usable one.

Training in resumable chunks is `pgjax.runs.driver.train_with_checkpoints`.

On several hosts (after `jax.distributed.initialize()`) every process must call
`save`/`restore`/`train_with_checkpoints` with the same arguments; orbax coordinates
the writes so that each array is written once.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from pgjax import __version__
from pgjax.algorithms.build import TrainState
from pgjax.algorithms.config_io import config_from_json, config_to_json
from pgjax.runs.distributed import barrier, broadcast_text, is_key, is_primary

# Two kept checkpoints: the newest, and the one before it in case the newest is being written.
MAX_TO_KEEP = 2
# The layout of the items and of the `TrainState` tree in them. Increase it whenever checkpoints
# written before stop restoring: 2 since pgjax 0.2.0 (parameters split into actor and critic
# trees); pgjax 0.1.0 saved no format, which is format 1.
CHECKPOINT_FORMAT = 2


class CheckpointFormatError(ValueError):
    """A checkpoint written by a pgjax whose checkpoint format this one cannot read."""


def _keys_to_data(tree):
    """Typed PRNG keys -> raw `uint32` arrays (orbax stores plain arrays only)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if is_key(x) else x, tree)


def _exists(run_dir: str) -> bool:
    """Whether `run_dir` exists, as process 0 sees it. On several processes every orbax call
    (and its barriers) must happen on all of them or none, so they must agree on this even
    while process 0 is creating the folder."""
    return broadcast_text("1" if os.path.isdir(run_dir) else "") == "1"


def manager(run_dir: str, create: bool) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=MAX_TO_KEEP, create=create)
    return ocp.CheckpointManager(os.path.abspath(run_dir), options=options)


def latest_step(run_dir: str) -> int | None:
    """Iterations done at the newest complete checkpoint in `run_dir`, or None if there is none."""
    if not _exists(run_dir):
        return None
    checkpoints = manager(run_dir, create=False)
    try:
        return checkpoints.latest_step()
    finally:
        checkpoints.close()


def save(run_dir: str, state: TrainState, config, metrics: dict) -> int:
    """Write checkpoint number `state.iteration` into `run_dir` and wait until it is complete.

    `metrics` holds the per-iteration metrics so far, each `[state.iteration]`. Returns the step.
    """
    step = int(state.iteration)
    checkpoints = manager(run_dir, create=True)
    try:
        save_to(checkpoints, step, state, config, metrics)
        checkpoints.wait_until_finished()
    finally:
        checkpoints.close()
    return step


def save_to(manager, step, state, config, metrics):
    num_runs = None if jnp.ndim(state.iteration) == 0 else int(jnp.shape(state.iteration)[0])
    manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(_keys_to_data(state)),
            config=ocp.args.JsonSave(config_to_json(config)),
            history=ocp.args.StandardSave({name: np.asarray(value) for name, value in metrics.items()}),
            runs=ocp.args.JsonSave({"num_runs": num_runs, "format": CHECKPOINT_FORMAT, "pgjax_version": __version__}),
        ),
    )


def _runs_item(checkpoints, run_dir: str, step: int) -> dict:
    """The `runs` item of checkpoint `step`, read before anything else; raises
    `CheckpointFormatError` if the checkpoint is of another format than this pgjax writes."""
    runs = checkpoints.restore(step, args=ocp.args.Composite(runs=ocp.args.JsonRestore()))["runs"]
    written = runs.get("format", 1)
    if written != CHECKPOINT_FORMAT:
        version = runs.get("pgjax_version", "0.1.0" if written == 1 else "an unknown version")
        raise CheckpointFormatError(
            f"checkpoint {os.path.join(run_dir, str(step))}: written by pgjax {version} (checkpoint format "
            f"{written}), which pgjax {__version__} (format {CHECKPOINT_FORMAT}) cannot resume; "
            f"continue it with pgjax {version} or start a new run"
        )
    return runs


def restore(run_dir: str, algo, step: int | None = None, key=None):
    """Load `(state, config, metrics)` from checkpoint `step` (default: the latest complete one).

    `algo` is the algorithm module that wrote the run (it defines `Config`, `init`, `update`,
    which give the structure to restore into). `key` is any PRNG key (or batch of keys) of the
    kind the run was started with (typed `jax.random.key`, the default, or raw
    `jax.random.PRNGKey`); only its type is used. A checkpoint of `K` runs trained together
    restores states with a leading `[K]` axis and metrics `[iterations, K]`.
    Raises `ValueError` if `run_dir` holds no complete checkpoint, `CheckpointFormatError` (a
    `ValueError`) if the checkpoint was written by a pgjax of another checkpoint format.
    """
    key = _one_key(jax.random.key(0) if key is None else key)
    checkpoints = manager(run_dir, create=False) if _exists(run_dir) else None
    try:
        step = step if step is not None or checkpoints is None else checkpoints.latest_step()
        if checkpoints is None or step is None:
            raise ValueError(f"run_dir: {run_dir} holds no complete checkpoint")
        num_runs = _runs_item(checkpoints, run_dir, step)["num_runs"]
        config = config_from_json(algo, checkpoints.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"])
        if num_runs is None:
            init, update = algo.init, algo.update
        else:
            init = lambda config, key: jax.vmap(algo.init, in_axes=(None, 0))(config, jax.random.split(key, num_runs))  # noqa: E731
            update = jax.vmap(algo.update, in_axes=(None, 0))
        abstract_state = jax.eval_shape(init, config, key)
        abstract_metrics = jax.eval_shape(update, config, abstract_state)[1]
        # Restore plain NumPy arrays of the right shapes, then hand them to the default device.
        state_target = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(_keys_to_data, abstract_state))
        metrics_target = {name: np.zeros((step,) + s.shape, s.dtype) for name, s in abstract_metrics.items()}
        restored = checkpoints.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(state_target), history=ocp.args.StandardRestore(metrics_target)
            ),
        )
    finally:
        if checkpoints is not None:
            checkpoints.close()
    state = jax.tree.map(
        lambda data, like: jax.random.wrap_key_data(data, impl=jax.random.key_impl(key)) if is_key(like) else data,
        restored["state"],
        abstract_state,
    )
    state = jax.tree.map(jax.numpy.asarray, state)
    return state, config, dict(restored["history"])


def all_steps(run_dir: str) -> list[int]:
    """Iterations done at every complete checkpoint in `run_dir`, oldest first."""
    if not _exists(run_dir):
        return []
    checkpoints = manager(run_dir, create=False)
    try:
        return sorted(checkpoints.all_steps())
    finally:
        checkpoints.close()


def recover(run_dir: str, algo, key=None, warn: Callable[[str], None] | None = None) -> int:
    """The newest checkpoint of `run_dir` that restores, after setting aside newer ones that don't.

    A checkpoint can be complete (finalised by orbax) and still be unreadable, e.g. a data file
    truncated by a full disk or a copy cut short. Each checkpoint, newest first, is restored in
    full; one that fails is renamed to `<step>.corrupt` (kept for inspection, and no longer seen
    as a checkpoint, so training can write that step again) with a warning through `warn`
    (default `warnings.warn`). Returns the step of the newest intact checkpoint; raises
    `ValueError` if there is none. `restore_intact` also returns what it restored.
    """
    return restore_intact(run_dir, algo, key, warn)[0]


def restore_intact(run_dir: str, algo, key=None, warn: Callable[[str], None] | None = None):
    """`(step, (state, config, metrics))` of the newest checkpoint that restores (see `recover`)."""
    warn = warn or (lambda message: warnings.warn(message, stacklevel=3))
    steps = all_steps(run_dir)
    if not steps:
        raise ValueError(f"run_dir: {run_dir} holds no complete checkpoint")
    for position, step in enumerate(reversed(steps)):
        try:
            restored = restore(run_dir, algo, step=step, key=key)
        except CheckpointFormatError:
            raise  # readable, but written by another pgjax: nothing to set aside
        except Exception as error:  # orbax/tensorstore raise many kinds; any of them means unreadable
            reason = " ".join(str(error).split())[:200] or type(error).__name__
            older = steps[len(steps) - position - 2] if position + 1 < len(steps) else None
            aside = os.path.join(run_dir, f"{step}.corrupt")
            # On several processes every one has failed to read it (same files); one renames it.
            barrier(f"pgjax-recover-{step}-tried")
            if is_primary():
                os.replace(os.path.join(run_dir, str(step)), aside)
            barrier(f"pgjax-recover-{step}-moved")
            warn(f"checkpoint after iteration {step} is unreadable ({type(error).__name__}: {reason}); moved to "
                 f"{aside}; " + (f"falling back to the checkpoint after iteration {older}" if older is not None
                                 else "no older checkpoint is left"))
            continue
        return step, restored
    raise ValueError(f"run_dir: {run_dir} holds no readable checkpoint (every one failed to restore)")


def saved_config(run_dir: str, algo, step: int | None = None):
    """The config saved with checkpoint `step` (default: the latest) of `run_dir`, and the step."""
    checkpoints = manager(run_dir, create=False) if _exists(run_dir) else None
    try:
        step = step if step is not None or checkpoints is None else checkpoints.latest_step()
        if checkpoints is None or step is None:
            raise ValueError(f"run_dir: {run_dir} holds no complete checkpoint")
        _runs_item(checkpoints, run_dir, step)
        fields = checkpoints.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]
    finally:
        if checkpoints is not None:
            checkpoints.close()
    return config_from_json(algo, fields), step


def differing_fields(a, b) -> list[str]:
    left, right = config_to_json(a), config_to_json(b)
    return [name for name in left if left[name] != right[name]]


def num_runs_of(key) -> int | None:
    """None for one PRNG key, `K` for a batch `[K]` of keys (typed, or raw `uint32 [K, 2]`)."""
    batch_shape = key.shape if is_key(key) else jnp.shape(key)[:-1]
    if len(batch_shape) > 1:
        raise ValueError(f"key: must be one PRNG key or a batch [K] of keys, got key shape {batch_shape}")
    return int(batch_shape[0]) if batch_shape else None


def _one_key(key):
    """A single key of the kind of `key` (one key or a batch of keys)."""
    return key if num_runs_of(key) is None else key[0]
