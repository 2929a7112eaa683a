"""Running algorithms: the algorithm protocol (`protocol`), the host-driven driver of compiled
blocks (`driver`: one driver for train, seeds, sweeps, checkpointed and multi-process runs),
sweep grids and their results (`sweep`), checkpoints (`checkpoint`) and devices and hosts
(`distributed`)."""

from pgjax.runs.checkpoint import restore, saved_config
from pgjax.runs.distributed import RunSharding, global_mesh
from pgjax.runs.driver import run_reported, train_runs_sharded, train_with_checkpoints
from pgjax.runs.protocol import Algorithm
from pgjax.runs.sweep import SweepResult, grid_points, parse_grid, sweep, validate_grid

__all__ = [
    "Algorithm", "RunSharding", "SweepResult", "global_mesh", "grid_points", "parse_grid", "restore", "run_reported", "saved_config",
    "sweep", "train_runs_sharded", "train_with_checkpoints", "validate_grid",
]
