"""Running algorithms: the algorithm protocol (`protocol`), the host-driven driver of compiled
blocks (`driver`: one driver for train, seeds, sweeps, checkpointed and multi-process runs),
sweep grids and their results (`sweep`), checkpoints (`checkpoint`), devices and hosts
(`distributed`), and the CPU split into one device per core (`devices`).

The names below load on first use: `pgjax.runs.distributed.initialize` must be able to start
JAX's distributed runtime before anything imports gymnax (which starts an XLA backend), and
importing this package must not do that.
"""

from pgjax.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "Algorithm": "pgjax.runs.protocol",
    "RunSharding": "pgjax.runs.distributed", "global_mesh": "pgjax.runs.distributed",
    "split_cpu": "pgjax.runs.devices", "runs_mesh": "pgjax.runs.devices", "devices_for_runs": "pgjax.runs.devices",
    "usable_cores": "pgjax.runs.devices",
    "restore": "pgjax.runs.checkpoint", "saved_config": "pgjax.runs.checkpoint",
    "run_reported": "pgjax.runs.driver", "train_runs_sharded": "pgjax.runs.driver",
    "train_with_checkpoints": "pgjax.runs.driver",
    "SweepResult": "pgjax.runs.sweep", "grid_points": "pgjax.runs.sweep", "parse_grid": "pgjax.runs.sweep",
    "validate_grid": "pgjax.runs.sweep",
}
# Not `sweep`: the function shares its name with the module `pgjax.runs.sweep`, which the import
# system sets on this package once loaded. Use `pgjax.sweep` or `pgjax.runs.sweep.sweep`.

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("pgjax.runs", globals(), _EXPORTS)
