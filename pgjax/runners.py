"""Training driven from the host: compiled chunks of iterations, run one after another, with
each chunk's metrics reported between them.

This is how the commands train (`pgjax.sweep.train_runs_sharded`, `pgjax.checkpoint.
train_with_checkpoints`). Their programs hold no host callback: JAX never writes a program
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

from collections.abc import Callable
from functools import partial

import jax
import numpy as np

from pgjax.algorithms import driver
from pgjax.distributed import RunSharding, broadcast_flag, global_mesh, is_primary, wait_until_ready


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
            n: jax.jit(partial(driver.continue_training, self.algo.update, num_iterations=n))
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
    `configs` has `[R]` traced leaves (`driver.stack_runs`), states `[R]`, metrics `[iterations, R]`."""

    def __init__(self, algo, configs, num_runs: int, mesh=None):
        self.algo = algo
        self.layout = RunSharding(num_runs, global_mesh() if mesh is None else mesh)
        self.configs = self.layout.place(configs)

    def compile(self, keys, state_like, lengths, fresh: bool) -> None:
        layout = self.layout
        if fresh:
            init = layout.jit(jax.vmap(self.algo.init), with_metrics=False).lower(self.configs, layout.place(keys)).compile()
            self.init = lambda keys: init(self.configs, layout.place(keys))
        self.chunks = {
            n: layout.jit(partial(driver.continue_runs, self.algo.update, num_iterations=n))
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
    `pgjax.progress.Progress` takes them).

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
        # A block lasts about 0.1 s, so a blocking wait delays Ctrl-C by no more than that; one
        # block for the whole run (no callback) is waited for in Python, so signals get through.
        metrics = runner.host_metrics(wait_until_ready(metrics) if num_blocks == 1 else jax.block_until_ready(metrics))
        parts.append(metrics)
        stop = callback is not None and is_primary() and driver.hand_block(callback, metrics)
        if callback is not None and broadcast_flag(stop):
            stopped = True
            break
    return state, {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}, stopped
