"""A stream of per-iteration training metrics, written to pluggable sinks.

The compiled training program reports each iteration's metrics to the host
(`train_batch(..., callback=...)`), as NumPy arrays with a leading seed axis
`[S]`. `MetricsLogger.log(iteration, metrics)` turns them into one row per seed,

    {"seed": s, "iteration": i, "env_steps": n, <metric>: value, ...}

and hands that iteration's rows to every sink; `MetricsLogger.log_block(iterations,
block)` does the same for a block of iterations (`[k, S]` leaves) in one `write` per
sink, as the commands do between their compiled blocks:

- `CSVSink` / `JSONLSink`: always available; flushed after every write (every
  iteration, or every block of about 32k env steps from the commands), so a
  crashed run keeps its curve, and `append=True` continues an existing file
  (the header of an existing CSV is kept, for resuming a run).
- `TensorBoardSink`: one event folder per seed, so TensorBoard overlays the seeds
  (needs the `tensorboard` extra: tensorboardX).
- `WandbSink`: one Weights & Biases run, metrics keyed `<metric>/seed_<s>` plus
  `<metric>/mean` (needs the `wandb` extra; `mode="offline"` or
  `WANDB_MODE=offline` works without a network).

A sink is anything with `write(rows)` and `close()`; `rows` may hold several iterations
(in order, seeds within), so a sink that needs one call per iteration groups them by
`row["iteration"]`, as `WandbSink` does.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

KEY_COLUMNS = ("seed", "iteration", "env_steps")
SINKS = ("csv", "jsonl", "tensorboard", "wandb")


class Sink(Protocol):
    def write(self, rows: list[dict[str, Any]]) -> None:
        """Record one or more iterations: one row per seed per iteration, in iteration
        order, all with the same keys."""

    def close(self) -> None: ...


def require_extra(module: str, extra: str):
    """Import an optional dependency, or fail with the install command that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"the {extra} sink needs the optional package {module!r}; install it with: pip install 'pgjax[{extra}]'"
        ) from error


_EXTRAS = {"tensorboard": ("tensorboardX", "tensorboard"), "wandb": ("wandb", "wandb")}


def check_available(name: str) -> None:
    """Raise `ValueError` for an unknown sink name, `ImportError` (naming the extra to
    install) for an optional sink whose package is missing: callers check before any work."""
    if name not in SINKS:
        raise ValueError(f"log: unknown sink {name!r}; choose from {', '.join(SINKS)}")
    if name in _EXTRAS:
        require_extra(*_EXTRAS[name])


def json_ready(value):
    """`value` with every non-finite float, in nested dicts and lists too, replaced by None (null):
    NaN and inf are not JSON, and a run with no finished episode yet has a NaN return."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_ready(item) for item in value]
    return value


# ---------------------------------------------------------------- sinks


class CSVSink:
    """Rows to a CSV file. The columns are fixed by the first row written (or by the
    header of the file being appended to)."""

    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        self._columns: list[str] | None = None
        if append and self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open(newline="") as existing:
                self._columns = next(csv.reader(existing))
        self._file = self.path.open("a" if append else "w", newline="")
        self._writer: csv.DictWriter | None = None

    def write(self, rows):
        if self._writer is None:
            header_needed = self._columns is None
            self._columns = self._columns or list(rows[0])
            # extrasaction="raise": a metric missing from the header is an error, not a silent drop.
            self._writer = csv.DictWriter(self._file, fieldnames=self._columns, extrasaction="raise")
            if header_needed:
                self._writer.writeheader()
        self._writer.writerows(rows)
        self._file.flush()

    def close(self):
        self._file.close()


class JSONLSink:
    """Rows to a JSON-lines file, one object per row; non-finite numbers become null."""

    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        self._file = self.path.open("a" if append else "w")

    def write(self, rows):
        for row in rows:
            self._file.write(json.dumps(json_ready(row)) + "\n")
        self._file.flush()

    def close(self):
        self._file.close()


class TensorBoardSink:
    """Scalars against `env_steps`, one event folder `logdir/seed_<s>` per seed."""

    def __init__(self, logdir: str | Path):
        self._tensorboardx = require_extra(*_EXTRAS["tensorboard"])
        self.logdir = Path(logdir)
        self._writers: dict[int, Any] = {}

    def write(self, rows):
        for row in rows:
            seed = row["seed"]
            if seed not in self._writers:
                self._writers[seed] = self._tensorboardx.SummaryWriter(str(self.logdir / f"seed_{seed}"))
            for name, value in row.items():
                if name not in KEY_COLUMNS:
                    self._writers[seed].add_scalar(name, value, global_step=row["env_steps"])
        for writer in self._writers.values():
            writer.flush()

    def close(self):
        for writer in self._writers.values():
            writer.close()


class WandbSink:
    """One Weights & Biases run; each iteration is one `log` call at `step=env_steps`.

    `init_kwargs` go to `wandb.init` (for example `id=..., resume="allow"` to continue
    a run). `mode=None` leaves the choice to wandb (`WANDB_MODE`).
    """

    def __init__(self, directory: str | Path, *, project: str = "pgjax", name: str | None = None,
                 config: Mapping | None = None, mode: str | None = None, **init_kwargs):
        wandb = require_extra(*_EXTRAS["wandb"])
        self.run = wandb.init(
            project=project, name=name, dir=str(directory), config=dict(config or {}), mode=mode, **init_kwargs
        )

    def write(self, rows):
        # One `log` per iteration: wandb's step must grow, and the rows may hold several.
        by_iteration: dict[int, list] = {}
        for row in rows:
            by_iteration.setdefault(row["iteration"], []).append(row)
        for iteration_rows in by_iteration.values():
            self._log_iteration(iteration_rows)

    def _log_iteration(self, rows):
        logged: dict[str, float] = {}
        for name in rows[0]:
            if name in KEY_COLUMNS:
                continue
            values = [row[name] for row in rows]
            logged.update({f"{name}/seed_{row['seed']}": value for row, value in zip(rows, values)})
            logged[f"{name}/mean"] = float(np.nanmean(values)) if np.any(np.isfinite(values)) else math.nan
        self.run.log(logged, step=int(rows[0]["env_steps"]))

    def close(self):
        self.run.finish()


def make_sink(name: str, run_dir: str | Path, *, append: bool = False, run_name: str | None = None,
              config: Mapping | None = None) -> Sink:
    """The sink called `name` (one of `SINKS`) writing into `run_dir`, with the standard file names."""
    check_available(name)
    run_dir = Path(run_dir)
    if name == "csv":
        return CSVSink(run_dir / "metrics.csv", append=append)
    if name == "jsonl":
        return JSONLSink(run_dir / "metrics.jsonl", append=append)
    if name == "tensorboard":
        return TensorBoardSink(run_dir / "tensorboard")
    return WandbSink(run_dir, name=run_name or run_dir.name, config=config)


# ---------------------------------------------------------------- the stream


def metrics_to_rows(iteration: int, seeds: Sequence[int], metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per seed from metrics whose leaves are `[S]` arrays (scalars are broadcast).

    `metrics` must hold `env_steps`; values become plain Python numbers.
    """
    return block_to_rows([iteration], seeds, {name: np.asarray(value)[None] for name, value in metrics.items()})


def block_to_rows(iterations: Sequence[int], seeds: Sequence[int], block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`metrics_to_rows` for `k = len(iterations)` iterations at once: leaves `[k, S]` (or
    `[k]`, broadcast over the seeds); the rows come iteration by iteration, seeds within.

    One `tolist` per metric instead of one `item` per value: a command's host handles a
    block of up to 64 iterations between two compiled calls (`pgjax.report.progress`).
    """
    k, num_seeds = len(iterations), len(seeds)
    columns = {
        name: np.broadcast_to(np.reshape(value, (k, -1)), (k, num_seeds)).tolist() for name, value in block.items()
    }
    env_steps = columns.pop("env_steps")
    names = list(columns)
    rows = []
    for t, iteration in enumerate(iterations):
        for i, seed in enumerate(seeds):
            row = {"seed": int(seed), "iteration": int(iteration), "env_steps": int(env_steps[t][i])}
            row.update({name: columns[name][t][i] for name in names})
            rows.append(row)
    return rows


class MetricsLogger:
    """Feeds each iteration's metrics of `len(seeds)` runs to every sink.

    Use as a context manager (or call `close`) so files are closed and wandb runs finished.
    """

    def __init__(self, sinks: Sequence[Sink], seeds: Sequence[int]):
        self.sinks = list(sinks)
        self.seeds = [int(seed) for seed in seeds]

    def log(self, iteration: int, metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Write iteration `iteration` (metrics with leaves `[S]`); returns the rows written."""
        return self._write(metrics_to_rows(iteration, self.seeds, metrics))

    def log_block(self, iterations: Sequence[int], block: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Write iterations `iterations` (metrics with leaves `[len(iterations), S]`) in one
        call per sink; returns the rows written."""
        return self._write(block_to_rows(iterations, self.seeds, block))

    def _write(self, rows):
        for sink in self.sinks:
            sink.write(rows)
        return rows

    def close(self):
        for sink in self.sinks:
            sink.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
