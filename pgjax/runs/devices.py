"""Every CPU core for several runs: the CPU split into one XLA device per core, and the runs
spread over as few of the devices as hold them at the fewest runs each.

XLA:CPU runs one device's program on about one core: the kernels of a vmapped batch of small
networks are too small for its thread pool to split. Split into several devices
(`jax_num_cpu_devices`, which must be set before JAX starts its backend), with the runs
sharded over them (`pgjax.runs.distributed.RunSharding`), every core trains its share. One
device per usable core is the default because it measured fastest: 2× cores was slower on
2 cores, and 2 devices on 1 core slower than 1 (`benchmarks/sweep_scaling.md`).

`pgjax train` and `pgjax sweep` split the CPU by default (`--devices D` or `PGJAX_DEVICES`
pins the count); in Python call `split_cpu()` right after `import jax`, before any
computation, and `pgjax.sweep` and `pgjax.train_runs_sharded` use the devices. The numbers of
a run repeat bit for bit for the same device count (see `RunSharding`), so record the count
(the commands write it to `run.json` and `summary.json`) and pin it to reproduce a run on a
machine with another number of cores.
"""

from __future__ import annotations

import math
import os
import re

import jax
from jax.sharding import Mesh

from pgjax.checks import check_positive_int
from pgjax.runs.distributed import global_mesh

ENV_VAR = "PGJAX_DEVICES"  # the commands' device count when `--devices` is not given
_FORCED_FLAG = re.compile(r"--xla_force_host_platform_device_count=(\d+)")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, so `taskset` counts), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # no affinity on this platform (macOS)
        return os.cpu_count() or 1


def chosen_elsewhere() -> int | None:
    """The CPU device count already chosen outside pgjax, or None: JAX's `jax_num_cpu_devices`
    (or its variable `JAX_NUM_CPU_DEVICES`), else XLA's `--xla_force_host_platform_device_count`
    in `XLA_FLAGS`."""
    configured = jax.config.jax_num_cpu_devices
    if configured >= 0:
        return configured
    forced = _FORCED_FLAG.findall(os.environ.get("XLA_FLAGS", ""))
    return int(forced[-1]) if forced else None


def split_cpu(devices: int | None = None) -> int:
    """Make JAX's CPU backend `devices` devices (default: one per usable core, unless JAX's
    `jax_num_cpu_devices` or XLA's forced device count already chose). Returns the count.

    Must run before JAX starts its backend (the first computation, `jax.devices()`, or
    importing gymnax); afterwards it raises `RuntimeError` unless the count is already the
    one asked for. On a GPU or TPU host it changes only the CPU backend, which holds no runs.
    """
    if devices is None:
        elsewhere = chosen_elsewhere()
        if elsewhere is not None:
            return elsewhere
        devices = usable_cores()
    check_positive_int("devices", devices)
    try:
        jax.config.update("jax_num_cpu_devices", devices)
    except RuntimeError:
        current = len(jax.devices("cpu"))
        if current != devices:
            raise RuntimeError(
                f"devices: JAX's backend has already started with {current} CPU device(s), so the CPU cannot be "
                f"split into {devices} now; call pgjax.split_cpu() right after `import jax`, before any "
                "computation (or set JAX_NUM_CPU_DEVICES)"
            ) from None
    return devices


def devices_for_runs(num_runs: int, available: int) -> int:
    """How many of `available` devices `num_runs` runs go on: as few as hold them at the fewest
    runs per device (`ceil(R / available)`); more would only hold padding runs or idle."""
    check_positive_int("num_runs", num_runs)
    check_positive_int("available", available)
    per_device = math.ceil(num_runs / available)
    return math.ceil(num_runs / per_device)


def runs_mesh(num_runs: int, devices: int | None = None) -> Mesh:
    """The 1-D mesh `num_runs` runs are sharded over: the first `devices` visible devices, or by
    default `devices_for_runs(num_runs, visible)` of them. On several processes, every device
    of every process (`global_mesh()`), since each process must hold runs."""
    mesh = global_mesh()
    if devices is None:
        if jax.process_count() > 1:
            return mesh
        devices = devices_for_runs(num_runs, mesh.size)
    if not 1 <= devices <= mesh.size:
        raise ValueError(f"devices: must be between 1 and the {mesh.size} visible device(s), got {devices}")
    return Mesh(mesh.devices[:devices], mesh.axis_names)
