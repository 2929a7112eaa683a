"""Devices and hosts: the mesh that sweeps shard their runs over.

`RunSharding` is the one code path that lays `R` independent runs out over a 1-D device mesh;
`pgjax.sweep.sweep`, `pgjax.sweep.train_runs_sharded` (used by `pgjax train --seeds K`) and
`pgjax.checkpoint.train_with_checkpoints` for several seeds all go through it.

One host, several devices (GPUs, TPU cores, or CPU devices forced with
`XLA_FLAGS=--xla_force_host_platform_device_count=N`): `global_mesh()` is a 1-D mesh over
`jax.devices()`, and `pgjax.sweep.sweep(..., mesh=global_mesh())` places `R / N` runs on
each device. No process pools, no `pmap`: one `jax.jit` program with sharded inputs.

Several hosts (a TPU pod slice, or GPU nodes): start the *same* program on every host and
call `jax.distributed.initialize()` first. After it, `jax.devices()` lists the devices of
all hosts, so `global_mesh()` spans the whole slice and the sweep's one program runs on
all of them. Every host computes the same inputs (the grid, the seed keys); each
contributes its own devices' shards. Results come back replicated, so every host can read
them, and only process 0 writes files. A worked example for a v4-32 slice (4 hosts ×
4 chips), started with `gcloud compute tpus tpu-vm ssh NAME --worker=all --command="python sweep.py"`:

    # sweep.py
    import jax
    jax.distributed.initialize()  # on TPU VMs the coordinator is found automatically

    from pgjax import ppo
    from pgjax.distributed import global_mesh, is_primary
    from pgjax.sweep import sweep

    config = ppo.Config.for_env("CartPole-v1")
    result = sweep(
        ppo, config,
        grid={"learning_rate": [1e-3, 3e-4, 1e-4], "clip_eps": [0.1, 0.2]},
        num_seeds=16, key=jax.random.key(0),
        mesh=global_mesh(),  # 16 devices; 96 runs -> 6 per device
    )
    if is_primary():
        result.to_csv("runs.csv")
        print(result.to_markdown())

On GPU clusters without auto-detection, pass the coordinator explicitly:
`jax.distributed.initialize(coordinator_address="host0:1234", num_processes=4, process_id=i)`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

RUN_AXIS = "runs"


def global_mesh(axis_name: str = RUN_AXIS) -> Mesh:
    """A 1-D mesh named `axis_name` over every device of every process (`jax.devices()`)."""
    return Mesh(np.array(jax.devices()), (axis_name,))


def is_primary() -> bool:
    """True on the process that should write results (process 0; always true on one host)."""
    return jax.process_index() == 0


def is_key(x) -> bool:
    """True for a typed PRNG key array (`jax.random.key`), False for raw `uint32` keys and other arrays."""
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


@dataclasses.dataclass(frozen=True)
class RunSharding:
    """`num_runs` independent training runs laid out along the single axis of a 1-D `mesh`.

    Every run-indexed input (stacked configs `[R]`, keys `[R]`, train states `[R]`) is padded
    to `num_padded = ceil(R / D)·D` runs for `D = mesh.size` devices by repeating the last run,
    so each device holds `num_padded / D` runs; the padding runs are real computation whose
    results are dropped (`unpad`, and before the progress callback sees them).

    Programs are `jax.jit(shard_map(fn))` rather than automatic partitioning: each device runs
    the program one device would run on its slice of the runs, and nothing is communicated
    between devices except metrics. A run's numbers repeat bit for bit for the same device
    count; across device counts they are statistically equal, not identical: the per-device
    program has another batch under `vmap`, XLA may round its float reductions differently,
    and RL amplifies a one-ulp difference once it flips a sampled action.
    """

    num_runs: int
    mesh: Mesh

    def __post_init__(self):
        if len(self.mesh.axis_names) != 1:
            raise ValueError(f"mesh: must be 1-D (one axis for runs), got axes {self.mesh.axis_names}")
        if self.num_runs <= 0:
            raise ValueError(f"num_runs: must be a positive integer, got {self.num_runs}")

    @property
    def axis(self) -> str:
        return self.mesh.axis_names[0]

    @property
    def num_padded(self) -> int:
        return math.ceil(self.num_runs / self.mesh.size) * self.mesh.size

    @property
    def by_run(self) -> NamedSharding:
        """Leading (run) axis split over the devices."""
        return NamedSharding(self.mesh, P(self.axis))

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    def place(self, tree):
        """Pad the leading run axis of every leaf from `R` to `num_padded` (repeating the last run)
        and put the result on the mesh, split by run. Leaves already padded are only placed."""
        def pad(x):
            if x.shape[0] == self.num_padded:
                return x
            if x.shape[0] != self.num_runs:
                raise ValueError(f"runs: expected a leading axis of {self.num_runs} runs, got shape {x.shape}")
            return x[np.minimum(np.arange(self.num_padded), self.num_runs - 1)]

        return jax.device_put(jax.tree.map(pad, tree), self.by_run)

    def unpad(self, tree, axis: int = 0):
        """Drop the padding runs along `axis` of every leaf (nothing to do, and no op dispatched,
        when the run count divides the device count)."""
        if self.num_padded == self.num_runs:
            return tree
        return jax.tree.map(lambda x: jax.lax.slice_in_dim(x, 0, self.num_runs, axis=axis), tree)

    def program(self, fn: Callable, callback: Callable | None = None, with_metrics: bool = True):
        """`(program, out_shardings)`: `fn` sharded over the runs, ready for `jax.jit(program, out_shardings=...)`.

        `fn(*args, callback=..., axis_name=...)` takes arguments whose every leaf has a leading
        run axis and returns `(states [R], metrics [iterations, R])` (or only states when
        `with_metrics` is False; then it is called without `callback`/`axis_name`). `callback`
        receives each iteration's metrics of the `R` real runs, once, on the host; the metrics
        come back replicated so that every host of a pod can read all of them.
        """
        axis = self.axis
        if with_metrics:
            def progress(metrics):
                return callback({name: values[: self.num_runs] for name, values in metrics.items()})

            fn = _with_keywords(fn, callback=None if callback is None else progress, axis_name=axis)
            out_specs, out_shardings = (P(axis), P(None, axis)), (self.by_run, self.replicated)
        else:
            out_specs, out_shardings = P(axis), self.by_run
        sharded = jax.shard_map(
            fn, mesh=self.mesh, in_specs=P(axis), out_specs=out_specs,
            # Runs never talk to each other, so the varying-axis type checks buy nothing, and the
            # algorithms' scans (whose carries start as constants) would need annotations for them.
            check_vma=False,
        )
        return sharded, out_shardings

    def jit(self, fn: Callable, callback: Callable | None = None, with_metrics: bool = True):
        """`jax.jit` of `program(...)`: call it on `place`d arguments."""
        sharded, out_shardings = self.program(fn, callback, with_metrics)
        return jax.jit(sharded, out_shardings=out_shardings)


def _with_keywords(fn, **keywords):
    def bound(*args):
        return fn(*args, **keywords)

    return bound


def wait_until_ready(tree, poll_seconds: float = 0.05):
    """`jax.block_until_ready(tree)`, but waiting in Python, so that signal handlers (Ctrl-C)
    run while a long compiled program executes; a blocking wait would defer them to its end."""
    leaves = [leaf for leaf in jax.tree.leaves(tree) if hasattr(leaf, "is_ready")]
    while not all(leaf.is_ready() for leaf in leaves):
        time.sleep(poll_seconds)
    return jax.block_until_ready(tree)
