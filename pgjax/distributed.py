"""Devices and hosts: the mesh that sweeps shard their runs over.

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

import jax
import numpy as np
from jax.sharding import Mesh

RUN_AXIS = "runs"


def global_mesh(axis_name: str = RUN_AXIS) -> Mesh:
    """A 1-D mesh named `axis_name` over every device of every process (`jax.devices()`)."""
    return Mesh(np.array(jax.devices()), (axis_name,))


def is_primary() -> bool:
    """True on the process that should write results (process 0; always true on one host)."""
    return jax.process_index() == 0
