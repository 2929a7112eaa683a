"""Devices and hosts: the mesh that sweeps shard their runs over.

`RunSharding` is the one code path that lays `R` independent runs out over a 1-D device mesh;
`pgjax.runs.sweep.sweep`, `pgjax.runs.driver.train_runs_sharded` (used by `pgjax train --seeds K`) and
`pgjax.runs.driver.train_with_checkpoints` for several seeds all go through it.

One host, several devices (GPUs, TPU cores, or CPU devices forced with
`XLA_FLAGS=--xla_force_host_platform_device_count=N`): `global_mesh()` is a 1-D mesh over
`jax.devices()`, and `pgjax.runs.sweep.sweep(..., mesh=global_mesh())` places `R / N` runs on
each device. No process pools, no `pmap`: one `jax.jit` program with sharded inputs.

Several processes (a TPU pod slice, GPU nodes, or local processes): start the *same* program
on every host and call `initialize()` (below) first; `pgjax ... --distributed` does. After
it, `jax.devices()` lists the devices of all processes, so `global_mesh()` spans them and
the sweep's programs run on all of them. Every process computes the same inputs (the
grid, the seed keys) and builds only its own devices' shards of them (`to_global`); the
per-iteration metrics come back replicated, so every process can read them, and process 0
hands them to the progress callback between compiled blocks (`pgjax.runs.driver`). States
stay global arrays (`gather` brings them whole to every host). Only process 0
(`is_primary()`) should write files. `tests/cli/test_multiprocess.py` runs 2 local processes ×
2 CPU devices this way; the devices guide (`docs/guides/devices.md`) shows the pod and cluster command lines.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
import threading
import time
from collections.abc import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from pgjax.checks import check_positive_int

RUN_AXIS = "runs"


def global_mesh(axis_name: str = RUN_AXIS) -> Mesh:
    """A 1-D mesh named `axis_name` over every device of every process (`jax.devices()`)."""
    return Mesh(np.array(jax.devices()), (axis_name,))


def is_primary() -> bool:
    """True on the process that should write results (process 0; always true on one host)."""
    return jax.process_index() == 0


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_seconds: int = 300,
) -> None:
    """`jax.distributed.initialize` that ends the process with one readable line, exit code 1,
    when this process has not joined all the others within `timeout_seconds`.

    Call it first, before anything runs on a device (as `jax.distributed.initialize`). With no
    arguments JAX detects the cluster (TPU pod slices, SLURM, Open MPI); elsewhere give all
    three of `coordinator_address` (`host:port` of process 0), `num_processes` and `process_id`.
    CPU devices communicate through gloo, so local processes work too (the tests run 2 of them).

    Why a watchdog thread instead of an exception: when the connection times out, JAX's runtime
    aborts the whole process from C++ (a stack trace, no Python exception to catch). The
    watchdog fires first, prints `error: ...` naming the coordinator and the timeout, and exits.
    """
    if timeout_seconds <= 0:
        raise ValueError(f"timeout_seconds: must be positive, got {timeout_seconds}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    joined = threading.Event()
    where = coordinator_address or "the auto-detected coordinator"
    who = f"process {process_id} of {num_processes}" if process_id is not None else "this process"

    def watchdog():
        if not joined.wait(timeout_seconds):
            sys.stderr.write(
                f"error: distributed: {who} could not join all processes at {where} within {timeout_seconds} s "
                "(is the coordinator address right, is process 0 running, and was every process started?)\n"
            )
            sys.stderr.flush()
            os._exit(1)

    threading.Thread(target=watchdog, name="pgjax-distributed-watchdog", daemon=True).start()
    try:
        # JAX's own deadline is later than the watchdog's, so the readable message wins.
        jax.distributed.initialize(
            coordinator_address, num_processes, process_id, initialization_timeout=timeout_seconds + 60
        )
    finally:
        joined.set()


def process_count_of(mesh: Mesh) -> int:
    """How many processes own the devices of `mesh`."""
    return len({device.process_index for device in mesh.devices.flat})


def check_runs_per_process(num_runs: int, mesh: Mesh) -> None:
    """Raise `ValueError` (naming `num_runs`) unless every process owning devices of `mesh`
    gets at least one of the `num_runs` runs. Padding fills devices, but a process holding
    nothing but copies of another process's run would spend a host on duplicates: refuse it
    rather than do that silently."""
    processes = process_count_of(mesh)
    if num_runs < processes:
        raise ValueError(f"num_runs: {num_runs} run(s) cannot be shared by {processes} processes; every process "
                         f"needs at least one run of its own (train at least {processes} runs)")


def _through_key_data(fn, key):
    """`fn` applied to a typed PRNG key array's raw `uint32` data, wrapped back into keys of
    the same kind (the multi-process array helpers take plain arrays only)."""
    return jax.random.wrap_key_data(fn(jax.random.key_data(key)), impl=jax.random.key_impl(key))


def to_global(x, sharding: NamedSharding):
    """`x`, whose whole value every process holds, as one global array laid out by `sharding`:
    each process builds only the shards of its own devices (`jax.device_put` onto devices of
    other processes is not allowed). An array already laid out by `sharding` is returned as is."""
    if isinstance(x, jax.Array) and x.sharding == sharding:
        return x
    if is_key(x):
        return _through_key_data(lambda data: to_global(data, sharding), x)
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    whole = np.asarray(x)
    return jax.make_array_from_callback(whole.shape, sharding, lambda index: whole[index])


def gather(tree):
    """Every leaf of `tree` whole, as NumPy (typed PRNG keys stay keys), on every process.

    A leaf spread over the devices of several processes is all-gathered
    (`multihost_utils.process_allgather`); that is a collective, so on several processes every
    process must call `gather` with the same tree. On one process it only copies to the host.
    """
    def one(x):
        if is_key(x):
            return _through_key_data(one, x)
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)


def broadcast_text(text: str) -> str:
    """Process 0's `text` on every process (a collective on several processes: all must call it;
    what the others pass is ignored). Used to agree on a run folder's name and on whether
    process 0 could claim it."""
    if jax.process_count() == 1:
        return text
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    length = int(multihost_utils.broadcast_one_to_all(np.int32(len(data))))
    padded = np.zeros(length, np.uint8)
    if is_primary():
        padded[:] = data
    return bytes(np.asarray(multihost_utils.broadcast_one_to_all(padded))).decode()


def broadcast_flag(flag: bool) -> bool:
    """Process 0's `flag` on every process (a collective on several processes, as `broadcast_text`)."""
    if jax.process_count() == 1:
        return bool(flag)
    return bool(multihost_utils.broadcast_one_to_all(np.bool_(flag)))


def barrier(name: str) -> None:
    """Wait until every process has reached the barrier `name` (nothing to wait for on one)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


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
        check_positive_int("num_runs", self.num_runs)
        check_runs_per_process(self.num_runs, self.mesh)

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
        and put the result on the mesh, split by run. Leaves already padded are only placed.

        On several processes every process passes the whole tree (the same values everywhere)
        and contributes the shards of its own devices (`to_global`)."""
        def pad(x):
            if x.shape[0] == self.num_padded:
                return x
            if x.shape[0] != self.num_runs:
                raise ValueError(f"runs: expected a leading axis of {self.num_runs} runs, got shape {x.shape}")
            return x[np.minimum(np.arange(self.num_padded), self.num_runs - 1)]

        return jax.tree.map(lambda x: to_global(x, self.by_run), jax.tree.map(pad, tree))

    def unpad(self, tree, axis: int = 0):
        """Drop the padding runs along `axis` of every leaf (nothing to do, and no op dispatched,
        when the run count divides the device count)."""
        if self.num_padded == self.num_runs:
            return tree
        # One compiled program for the whole tree, its result replicated (R runs do not split
        # evenly over the devices). On several processes dropping runs is a collective, and
        # many small eager ones dispatched at once can pair up in different orders on
        # different processes and deadlock; inside one program their order is fixed.
        return _unpad_program(self.num_runs, axis, self.replicated)(tree)

    def program(self, fn: Callable, with_metrics: bool = True):
        """`(program, out_shardings)`: `fn` sharded over the runs, ready for `jax.jit(program, out_shardings=...)`.

        `fn(*args)` takes arguments whose every leaf has a leading run axis and returns
        `(states [R], metrics [iterations, R])`, or only states when `with_metrics` is False.
        The metrics come back replicated, so that every host of a pod can read all of them.
        """
        axis = self.axis
        if with_metrics:
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

    def jit(self, fn: Callable, with_metrics: bool = True):
        """`jax.jit` of `program(...)`: call it on arguments placed by `place`."""
        sharded, out_shardings = self.program(fn, with_metrics)
        return jax.jit(sharded, out_shardings=out_shardings)


@functools.lru_cache(maxsize=None)
def _unpad_program(num_runs: int, axis: int, replicated: NamedSharding):
    return jax.jit(lambda tree: jax.tree.map(lambda x: jax.lax.slice_in_dim(x, 0, num_runs, axis=axis), tree),
                   out_shardings=replicated)


def wait_until_ready(tree, poll_seconds: float = 0.05):
    """`jax.block_until_ready(tree)`, but waiting in Python, so that signal handlers (Ctrl-C)
    run while a long compiled program executes; a blocking wait would defer them to its end."""
    leaves = [leaf for leaf in jax.tree.leaves(tree) if hasattr(leaf, "is_ready")]
    while not all(leaf.is_ready() for leaf in leaves):
        time.sleep(poll_seconds)
    return jax.block_until_ready(tree)
