"""Many runs in one program: a hyperparameter grid × seeds, trained together and sharded over devices.

A sweep of `P` grid points × `S` seeds is `R = P·S` runs. Run `r = p·S + s` trains grid
point `p` with seed key `s`; the same `S` seed keys are used at every grid point, so
grid points are compared on common random numbers. All numeric hyperparameters become
`[R]` arrays in one `Config` (its `hyper` leaves are traced), so every run shares the
static fields and the whole sweep is *one* compiled program: `pgjax.algorithms.scan.train_runs`, a
`lax.scan` over iterations of a `vmap` over runs.

With several devices the run axis is sharded over a 1-D mesh (by default
`pgjax.runs.devices.runs_mesh`; on a CPU, `pgjax.split_cpu()` makes one device per core):
each device trains `R / num_devices` runs; nothing is communicated between devices except the
per-iteration metrics sent to the progress callback and the final metrics.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from pgjax.algorithms.config_io import parse_number
from pgjax.algorithms.scan import stack_runs, sweepable_fields
from pgjax.report.divergence import nan_onsets
from pgjax.report.statistics import stratified_bootstrap_ci
from pgjax.runs.driver import train_runs_sharded
from pgjax.checks import check_positive_int

# ---------------------------------------------------------------- the grid


def validate_grid(config, grid: dict[str, Sequence[Any]]) -> None:
    """Raise `ValueError` naming the field unless every grid entry is a sweepable field with a
    non-empty list of valid values. Each value is checked by building the config with it, so
    the config's own rules (and cross-field checks) apply, before anything is compiled."""
    if not grid:
        raise ValueError("grid: must name at least one field")
    known = type(config).field_names()
    sweepable = sweepable_fields(config)
    for field, values in grid.items():
        if field not in known:
            raise ValueError(f"{field}: unknown field of {type(config).__qualname__}; sweepable fields: {', '.join(sweepable)}")
        if field not in sweepable:
            raise ValueError(
                f"{field}: is structural (it fixes array shapes or program structure), so every value "
                f"would need its own compiled program and cannot be swept in one; sweepable fields: {', '.join(sweepable)}"
            )
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"{field}: grid values must be a non-empty list, got {values!r}")
        for value in values:
            if isinstance(value, (bool, np.bool_, str)) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"{field}: grid values must be numbers, got {value!r}")
            config.replace(**{field: value})  # raises ValueError naming the field and the rule


def grid_points(grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the grid, in order (the last field varies fastest)."""
    fields = list(grid)
    return [dict(zip(fields, values)) for values in itertools.product(*(grid[f] for f in fields))]


def parse_grid(assignments: Sequence[str]) -> dict[str, list[float | int]]:
    """`["learning_rate=1e-3,3e-4", "clip_eps=0.1,0.2"]` -> `{"learning_rate": [1e-3, 3e-4], "clip_eps": [0.1, 0.2]}`.

    Values that read as integers stay integers. Raises `ValueError` naming the field on malformed input.
    """

    def number(field, text):
        try:
            return parse_number(text)
        except ValueError as error:
            raise ValueError(f"{field}: {error}") from None

    grid: dict[str, list] = {}
    for assignment in assignments:
        field, sep, values = assignment.partition("=")
        field = field.strip()
        if not sep or not field or not values.strip():
            raise ValueError(f"grid: expected FIELD=V1,V2,..., got {assignment!r}")
        if field in grid:
            raise ValueError(f"{field}: given twice in the grid")
        grid[field] = [number(field, v.strip()) for v in values.split(",")]
    return grid


# ---------------------------------------------------------------- results


@dataclasses.dataclass
class SweepResult:
    """What a sweep returns; NumPy arrays throughout except `states`.

    - `points`: the `P` grid points (dicts field -> value); `fields` their field names.
    - `run_point [R]`, `run_seed [R]`: grid-point index and seed index of each run.
    - `metrics`: name -> `[iterations, R]` learning curves; `final`: name -> `[R]` (last iteration).
    - `states`: the final `TrainState`s with a leading `[R]` axis (JAX arrays, possibly sharded).
    - `compile_seconds`, `run_seconds`: wall time to trace+compile, and to train.
    """

    fields: list[str]
    points: list[dict[str, Any]]
    num_seeds: int
    run_point: np.ndarray
    run_seed: np.ndarray
    metrics: dict[str, np.ndarray]
    states: Any = None
    compile_seconds: float = float("nan")
    run_seconds: float = float("nan")

    @property
    def num_runs(self) -> int:
        return len(self.run_point)

    @property
    def final(self) -> dict[str, np.ndarray]:
        return {name: values[-1] for name, values in self.metrics.items()}

    @property
    def final_return(self) -> np.ndarray:
        """`[R]`: the mean return of the episodes that finished last in each run."""
        return self.metrics["episode_return"][-1]

    def label(self, point_index: int) -> str:
        return ", ".join(f"{field}={value:g}" for field, value in self.points[point_index].items())

    def nan_runs(self) -> list[dict[str, Any]]:
        """Runs whose metrics went NaN: `{"run", "point", "seed", "first_iteration", "metrics"}`
        for each (see `pgjax.report.divergence.nan_onsets`: `episode_return` is NaN until the first
        episode finishes, so it counts only after that; every other metric at every iteration;
        `metrics` names those NaN at `first_iteration`)."""
        return [
            {"run": entry["run"], "point": self.points[int(self.run_point[entry["run"]])],
             "seed": int(self.run_seed[entry["run"]]), "first_iteration": entry["first_iteration"],
             "metrics": entry["metrics"]}
            for entry in nan_onsets(self.metrics)
        ]

    def summary(self, num_bootstrap: int = 10_000, bootstrap_seed: int = 0) -> list[dict[str, Any]]:
        """Per grid point, ranked by mean final return (best first; points with no finite run last).

        Each entry: `point`, `mean`, `std` (ddof=1; 0 for one seed), `ci_low`, `ci_high` (a 95%
        percentile-bootstrap interval of the mean: `num_bootstrap` resamples of the seeds with
        replacement, from `np.random.default_rng(bootstrap_seed)`, fresh for every point so a
        point's interval does not depend on the others), `num_seeds` and `num_nan` (runs with NaN
        metrics, which are left out of the statistics instead of spoiling them).
        """
        nan_run_ids = {entry["run"] for entry in self.nan_runs()}
        rows = []
        for point in range(len(self.points)):
            runs = [r for r in np.flatnonzero(self.run_point == point) if r not in nan_run_ids]
            values = self.final_return[runs].astype(np.float64)
            row = {"point": self.points[point], "label": self.label(point), "num_seeds": self.num_seeds}
            row["num_nan"] = self.num_seeds - len(values)
            if len(values):
                low, high = stratified_bootstrap_ci(values, np.mean, num_bootstrap, 0.95, bootstrap_seed)
                std = values.std(ddof=1) if len(values) > 1 else 0.0
                row.update(mean=values.mean(), std=std, ci_low=low, ci_high=high)
            else:
                row.update(mean=np.nan, std=np.nan, ci_low=np.nan, ci_high=np.nan)
            rows.append(row)
        return sorted(rows, key=lambda row: (np.isnan(row["mean"]), -np.nan_to_num(row["mean"])))

    def to_markdown(self) -> str:
        """The ranked summary as a markdown table."""
        lines = [
            "| rank | " + " | ".join(self.fields) + " | final return (mean ± std) | 95% bootstrap CI | seeds | NaN runs |",
            "|---:|" + "---:|" * len(self.fields) + "---:|---:|---:|---:|",
        ]
        for rank, row in enumerate(self.summary(), start=1):
            values = " | ".join(f"{row['point'][field]:g}" for field in self.fields)
            if np.isnan(row["mean"]):
                lines.append(f"| {rank} | {values} | no finite run | – | {row['num_seeds']} | {row['num_nan']} |")
                continue
            lines.append(
                f"| {rank} | {values} | {row['mean']:.1f} ± {row['std']:.1f} | "
                f"[{row['ci_low']:.1f}, {row['ci_high']:.1f}] | {row['num_seeds']} | {row['num_nan']} |"
            )
        return "\n".join(lines) + "\n"

    def summary_to_csv(self, path: str) -> None:
        """The ranked summary (as `to_markdown`) as CSV: rank, grid values, mean, std, CI, seeds,
        NaN runs. Statistics of a point with no finite run are empty cells."""
        columns = ["mean", "std", "ci_low", "ci_high", "num_seeds", "num_nan"]
        with open(path, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["rank", *self.fields, *columns])
            for rank, row in enumerate(self.summary(), start=1):
                cells = ["" if isinstance(row[c], float) and np.isnan(row[c]) else row[c] for c in columns]
                writer.writerow([rank, *(row["point"][f] for f in self.fields), *cells])

    def to_csv(self, path: str) -> None:
        """One row per run: run index, grid-point values, seed, and every final metric as
        `final_<metric>` (a metric may share a grid field's name, e.g. `learning_rate`)."""
        names = sorted(self.metrics)
        with open(path, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["run", *self.fields, "seed", *(f"final_{name}" for name in names)])
            final = self.final
            for run in range(self.num_runs):
                point = self.points[int(self.run_point[run])]
                writer.writerow(
                    [run, *(point[f] for f in self.fields), int(self.run_seed[run]), *(final[n][run].item() for n in names)]
                )


# ---------------------------------------------------------------- running


def sweep(
    algo,
    config,
    grid: dict[str, Sequence[Any]],
    num_seeds: int,
    key,
    callback: Callable | None = None,
    mesh: Mesh | None = None,
    on_compiled: Callable[[], None] | None = None,
    report_every: int = 1,
) -> SweepResult:
    """Train every grid point × seed of `algo` in one compiled program.

    `grid` maps numeric (`hyper`) fields of `config` to lists of values; the runs are their
    Cartesian product × `num_seeds` seeds (seed keys `jax.random.split(key, num_seeds)`,
    shared by all grid points). Fields missing from the grid keep `config`'s value.
    Structural fields, unknown fields and invalid values raise `ValueError` before compiling.

    `mesh`: a 1-D `jax.sharding.Mesh`; the run axis is sharded over its devices. `None` means
    `pgjax.runs.devices.runs_mesh(R)`: the visible devices, as many as hold the `R` runs at the
    fewest per device (a trivial mesh on one device; `pgjax.split_cpu()` makes one per core).
    When the run count does not divide the device count, the last run is duplicated to fill
    the devices and the duplicates are dropped from the results (and from the callback).

    `callback(metrics)`, if given, runs on the host once per iteration with `[R]` NumPy leaves
    (on several hosts: on process 0 only); `on_compiled()` after compiling, before training.
    If the callback returns True, training stops after that iteration and the result holds
    the iterations done. With `report_every=k` the program reports once per block of up to
    `k` iterations (the callback still sees each one, or each block through its
    `report_block` method if it has one: `pgjax.runs.driver.run_reported`) and a stop takes effect
    at the block's end; the numbers are the same for every `k`.
    """
    check_positive_int("num_seeds", num_seeds)
    validate_grid(config, grid)
    points = grid_points(grid)
    num_runs = len(points) * num_seeds
    configs = stack_runs(config, points, num_seeds)
    keys = jax.random.split(key, num_seeds)[np.tile(np.arange(num_seeds), len(points))]

    states, metrics, compile_seconds, run_seconds = train_runs_sharded(
        algo, configs, keys, callback, mesh, on_compiled, report_every
    )

    runs = np.arange(num_runs)
    return SweepResult(
        fields=list(grid),
        points=points,
        num_seeds=num_seeds,
        run_point=runs // num_seeds,
        run_seed=runs % num_seeds,
        metrics=metrics,
        states=states,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
    )
