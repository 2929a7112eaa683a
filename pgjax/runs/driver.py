"""Training driven from the host: compiled chunks of iterations, run one after another, with
each chunk's metrics reported between them.

One driver for every run the commands start: `train_runs_sharded` (`--seeds`, sweeps, several
processes) and `train_with_checkpoints` (checkpointed and resumed runs, one or many). Their programs hold no host callback: JAX never writes a program
with a host callback to its persistent compilation cache, so a command that reported from
inside the program compiled again on every invocation, every resume and every rerun of the
same settings. Here each compiled piece is plain (`init`; `n` scanned updates), so with
`JAX_COMPILATION_CACHE_DIR` set a repeated command loads it instead of compiling it.

The host does not make the device wait: dispatch is asynchronous, so the next block is queued
before the host reads the previous block's metrics and calls back with them. A stop request
(the callback returns True) takes effect at the end of the block it was made in; the block
already queued behind it runs, and its result is dropped. The iterations, and so the numbers,
are those of one compiled `train`: everything that changes lives in the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from pgjax.algorithms import scan
from pgjax.checks import check_positive_int
from pgjax.runs import checkpoint
from pgjax.runs.devices import runs_mesh
from pgjax.runs.distributed import (
    RunSharding,
    broadcast_flag,
    is_primary,
    wait_until_ready,
)


class OneRun:
    """`algo.train(config, key)` in compiled pieces: `state` and metrics have no run axis."""

    def __init__(self, algo, config):
        self.algo, self.config = algo, config

    def compile(self, key, state_like, lengths, fresh: bool) -> None:
        """Compile `init` (if `fresh`) and a program of `n` updates for every `n` in `lengths`."""
        if fresh:
            init = jax.jit(self.algo.init).lower(self.config, key).compile()
            self.init = lambda key: init(self.config, key)
        self.chunks = {
            n: jax.jit(partial(scan.continue_training, self.algo.update, num_iterations=n))
            .lower(self.config, state_like).compile()
            for n in lengths
        }

    def run(self, state, length):
        """`(state, metrics [length, ...])` after `length` more iterations, dispatched, not awaited."""
        return self.chunks[length](self.config, state)

    def host_metrics(self, metrics) -> dict:
        return {name: np.asarray(values) for name, values in metrics.items()}

    def state_like(self, key):
        """Shapes and dtypes of the state `init` returns, strongly typed as a restored state is
        (`init` leaves a few leaves weakly typed, e.g. gymnax's step counters), so that a fresh
        and a resumed run compile the same program: one entry in the compilation cache."""
        abstract = jax.eval_shape(self.algo.init, self.config, key)
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype), abstract)

    def to_save(self, state):
        return state

    def restored(self, state):
        return state


class ManyRuns:
    """`R` runs in compiled pieces, laid out over the devices of `mesh` by `RunSharding`:
    `configs` has `[R]` traced leaves (`scan.stack_runs`), states `[R]`, metrics `[iterations, R]`."""

    def __init__(self, algo, configs, num_runs: int, mesh=None):
        self.algo = algo
        self.layout = RunSharding(num_runs, runs_mesh(num_runs) if mesh is None else mesh)
        self.configs = self.layout.place(configs)

    def compile(self, keys, state_like, lengths, fresh: bool) -> None:
        layout = self.layout
        if fresh:
            init = layout.jit(jax.vmap(self.algo.init), with_metrics=False).lower(self.configs, layout.place(keys)).compile()
            self.init = lambda keys: init(self.configs, layout.place(keys))
        self.chunks = {
            n: layout.jit(partial(scan.continue_runs, self.algo.update, num_iterations=n))
            .lower(self.configs, state_like).compile()
            for n in lengths
        }

    def run(self, states, length):
        return self.chunks[length](self.configs, states)

    def host_metrics(self, metrics) -> dict:
        # Replicated on every device, so every process can read all of them; the padding runs go.
        return {name: np.asarray(values)[:, : self.layout.num_runs] for name, values in metrics.items()}

    def state_like(self, keys):
        layout = self.layout
        abstract = jax.eval_shape(jax.vmap(self.algo.init), self.configs, layout.place(keys))
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=layout.by_run), abstract)

    def to_save(self, states):
        return self.layout.unpad(states)

    def restored(self, states):
        return self.layout.place(states)


def run_reported(runner, state, num_iterations: int, block: int, callback: Callable | None = None):
    """`num_iterations` iterations from `state` as `num_iterations / block` calls of the compiled
    `runner.run(state, block)`; after each, `callback(metrics)` on the host for each of the
    block's iterations in order (on process 0 only, as every process holds all the metrics),
    or, if the callback has a `report_block` method, `callback.report_block(metrics)` once
    with the whole block (leaves `[block, ...]`: one call instead of `block`, as
    `pgjax.report.progress.Progress` takes them).

    If the callback returns True, the iterations stop at the end of that block (on every
    process: process 0's answer is shared). Returns `(state, metrics {name: [iterations run,
    ...]} NumPy, stopped)`.
    """
    if num_iterations % block:
        raise ValueError(f"block: must divide num_iterations ({num_iterations}), got {block}")
    num_blocks = num_iterations // block
    parts, stopped = [], False
    pending = runner.run(state, block)
    for index in range(num_blocks):
        state, metrics = pending
        if index + 1 < num_blocks:
            pending = runner.run(state, block)  # queued now: the device need not wait for the host
        # A block is short (`pgjax.report.progress.report_every`), so a blocking wait delays Ctrl-C
        # by no more than one block; one block for the whole run (no callback) is waited for in
        # Python, so signals get through.
        metrics = runner.host_metrics(wait_until_ready(metrics) if num_blocks == 1 else jax.block_until_ready(metrics))
        parts.append(metrics)
        stop = callback is not None and is_primary() and scan.hand_block(callback, metrics)
        if callback is not None and broadcast_flag(stop):
            stopped = True
            break
    return state, {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}, stopped


def train_with_checkpoints(
    algo,
    config,
    key,
    run_dir: str,
    every_iterations: int,
    callback: Callable | None = None,
    resume: bool = False,
    mesh=None,
    on_compiled: Callable[[float], None] | None = None,
    report_every: int = 1,
):
    """`algo.train(config, key)` in compiled chunks of `every_iterations`, checkpointing between chunks.

    Returns `(state, metrics [num_iterations])`, equal bit for bit to `algo.train(config, key)`.
    `key` may also be a batch `[K]` of keys: then the `K` runs of `config` train together, laid
    out over the devices of `mesh` (default: `pgjax.runs.devices.runs_mesh(K)`) by the same code as
    `sweep`, and the result is `(states [K], metrics [num_iterations, K])`, equal to
    `train_runs_sharded` on the same runs.

    With `resume=True`, training continues from the latest complete checkpoint in `run_dir`
    (if there is none it starts afresh); the saved config must equal `config` and `key` is
    only used for its type and run count. With `resume=False`, `run_dir` must not hold
    checkpoints already. `callback(metrics)` runs on the host once per iteration, as in `train`:
    each chunk runs as compiled blocks of `scan.block_length(chunk, report_every)` iterations
    and the callback sees a block's iterations after it, one call each, or the whole block
    at once through its `report_block` method if it has one (`run_reported`).

    Every program (`init` for a fresh run; a block of each length needed) is compiled before
    training starts; `on_compiled(seconds)` is then called with the compile time. None holds a
    host callback, so JAX's persistent compilation cache can keep them for the next run or
    resume. Checkpoints are written asynchronously while the next chunk runs. If `callback`
    returns True, training stops at the end of that block, which is checkpointed; the result
    then holds the iterations done (resume continues from there).
    """
    check_positive_int("every_iterations", every_iterations)
    num_runs = checkpoint.num_runs_of(key)
    existing = checkpoint.latest_step(run_dir)
    if existing is not None and not resume:
        raise ValueError(
            f"run_dir: {run_dir} already holds checkpoints (latest after {existing} iterations); "
            "pass resume=True to continue it, or choose a new directory"
        )
    runner = OneRun(algo, config) if num_runs is None else ManyRuns(algo, scan.stack_runs(config, [{}], num_runs), num_runs, mesh)
    if existing is not None:
        existing, (state, saved_config, metrics) = checkpoint.restore_intact(run_dir, algo, key=key)  # past any corrupt one
        differing = checkpoint.differing_fields(saved_config, config)
        if differing:
            raise ValueError(
                f"config: differs from the one saved in {run_dir} in field(s) {', '.join(differing)}; "
                "resume with the saved config"
            )
        saved_runs = None if jnp.ndim(state.iteration) == 0 else int(jnp.shape(state.iteration)[0])
        if saved_runs != num_runs:
            raise ValueError(
                f"key: {run_dir} holds {saved_runs or 1} run(s){'' if saved_runs else ' (one key)'}, "
                f"resumed with {num_runs or 1} key(s)"
            )
        metrics = {name: [value] for name, value in metrics.items()}
        state = runner.restored(state)
        done = existing
    else:
        state, metrics, done = None, None, 0

    left = config.num_iterations - done
    chunks = sorted({n for n in (min(every_iterations, left), left % every_iterations) if n > 0})
    # A chunk runs as blocks of iterations with a report after each (one block without a callback).
    block = {n: n if callback is None else scan.block_length(n, report_every) for n in chunks}
    start = time.perf_counter()
    state_like = state if state is not None else runner.state_like(key)
    runner.compile(key, state_like, sorted(set(block.values())), fresh=state is None)
    if on_compiled is not None:
        on_compiled(time.perf_counter() - start)
    if state is None:
        state = runner.init(key)

    manager = checkpoint.manager(run_dir, create=True)
    try:
        while done < config.num_iterations:
            length = min(every_iterations, config.num_iterations - done)
            # A callback that asks to stop ends the chunk early: the iterations that ran are
            # checkpointed, and training stops.
            state, chunk_metrics, stopped = run_reported(runner, state, length, block[length], callback)
            ran = len(chunk_metrics["env_steps"])
            if metrics is None:
                metrics = {name: [] for name in chunk_metrics}
            for name, value in chunk_metrics.items():
                metrics[name].append(value)
            done += ran
            # Wait for the previous write before starting the next (orbax allows one at a time).
            manager.wait_until_finished()
            history = {name: np.concatenate(parts) for name, parts in metrics.items()}
            checkpoint.save_to(manager, done, runner.to_save(state), config, history)
            if stopped:
                break
        manager.wait_until_finished()
    finally:
        manager.close()
    return runner.to_save(state), {name: np.concatenate(parts) for name, parts in (metrics or {}).items()}


def train_runs_sharded(
    algo,
    configs,
    keys,
    callback: Callable | None = None,
    mesh: Mesh | None = None,
    on_compiled: Callable[[], None] | None = None,
    report_every: int = 1,
):
    """`R` runs (`pgjax.algorithms.scan.train_runs`) sharded over the devices of `mesh`.

    `configs`: a `Config` whose traced leaves are `[R]` arrays (see `stack_runs`); `keys [R]`.
    `mesh`: a 1-D mesh; `None` means `pgjax.runs.devices.runs_mesh(R)`: the visible devices,
    as many as hold the runs at the fewest per device (trivial on one device).
    The runs are laid out by `pgjax.runs.distributed.RunSharding` (padded to a multiple of the device
    count; the padding is dropped again). Without a callback the iterations are one compiled
    program; with one they run in compiled blocks of `scan.block_length(iterations,
    report_every)` iterations, and `callback(metrics)` gets `[R]` NumPy leaves once per
    iteration between them, or `callback.report_block(block)` `[k, R]` leaves once per block if
    it has that method (`run_reported`; a True answer stops the runs at the end
    of that block). Either way the programs hold no host callback, so JAX's persistent
    compilation cache can keep them. `on_compiled()` runs after compilation, just before
    training starts (to start a clock or a progress bar).

    Returns `(states [R], metrics {name: [iterations, R] NumPy}, compile_seconds, run_seconds)`.
    Used by `sweep` and by `pgjax train --seeds K`.
    """
    runner = ManyRuns(algo, configs, int(jax.tree.leaves(keys)[0].shape[0]), mesh)
    iterations = configs.num_iterations
    block = iterations if callback is None else scan.block_length(iterations, report_every)
    start = time.perf_counter()
    runner.compile(keys, runner.state_like(keys), [block], fresh=True)
    compiled_at = time.perf_counter()
    if on_compiled is not None:
        on_compiled()
    started_at = time.perf_counter()
    states, metrics, _ = run_reported(runner, runner.init(keys), iterations, block, callback)
    wait_until_ready(states)
    finished_at = time.perf_counter()
    return runner.to_save(states), metrics, compiled_at - start, finished_at - started_at
