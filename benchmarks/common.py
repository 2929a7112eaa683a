"""Shared timing and reporting helpers for the benchmark scripts.

Timing protocol (every figure in `benchmarks/` and `studies/`):
- compile time is measured apart from run time, by compiling ahead of time:
  `jax.jit(f).lower(*args).compile()`; the returned executable then runs with no
  tracing or compilation inside the timed region;
- run time is the median of at least 3 calls (each ended by `block_until_ready`),
  reported with the min–max range of those calls;
- every table is preceded by a header naming the date, the machine (CPU model and
  core count from /proc/cpuinfo, and the JAX devices) and the library versions.

Benchmarks run on the devices the commands use: importing this module splits the CPU into one
device per core (`pgjax.runs.devices.split_cpu`), unless JAX's backend has already started
(a test importing a benchmark) or `JAX_NUM_CPU_DEVICES`/`XLA_FLAGS` chose the count. A
program on one device (one seed, `train_batch`) runs as before; the runs of
`train_seeds_sharded` spread over the devices as `pgjax train --seeds` spreads them.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import jax
import numpy as np
from jax._src import xla_bridge

from pgjax.runs import split_cpu

if not xla_bridge.backends_are_initialized():
    split_cpu()

BENCH_DIR = Path(__file__).resolve().parent


# ---------------------------------------------------------------- timing


@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated calls: median and range."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def seconds(self, digits: int = 3) -> str:
        """`median (min–max) s`."""
        return f"{_num(self.median, digits)} ({_num(self.min, digits)}–{_num(self.max, digits)}) s"

    def rate(self, work: float) -> tuple[float, float, float]:
        """`work` per second: (median, slowest, fastest)."""
        return work / self.median, work / self.max, work / self.min

    def rate_str(self, work: float) -> str:
        """`median (min–max)` of `work` per second, e.g. env-steps/s."""
        med, low, high = self.rate(work)
        return f"{_sci(med)} ({_sci(low)}–{_sci(high)})"


def _num(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


def _sci(x: float) -> str:
    return f"{x:.3g}" if x < 1e4 else f"{x:.2e}"


def block(tree):
    """Wait until every array in `tree` has been computed."""
    return jax.block_until_ready(tree)


def compile_ahead(fn: Callable, *args, **jit_kwargs):
    """Compile `fn` for `args` ahead of time. Returns `(executable, compile_seconds)`.

    The seconds cover tracing, lowering and XLA compilation: everything a first
    `jax.jit(fn)(*args)` call spends before it starts computing.
    """
    start = time.perf_counter()
    executable = jax.jit(fn, **jit_kwargs).lower(*args).compile()
    return executable, time.perf_counter() - start


def time_calls(fn: Callable, *args, repeats: int = 3, warmup: int = 1, make_args: Callable | None = None) -> Timing:
    """Time `repeats` calls of `fn(*args)` (each waited for), after `warmup` untimed calls.

    `make_args()`, if given, builds fresh arguments before each call outside the
    timed region (needed when `fn` donates its inputs).
    """
    if repeats < 1:
        raise ValueError(f"repeats: must be a positive integer, got {repeats}")
    samples = []
    for i in range(warmup + repeats):
        call_args = make_args() if make_args is not None else args
        block(call_args)
        start = time.perf_counter()
        block(fn(*call_args))
        elapsed = time.perf_counter() - start
        if i >= warmup:
            samples.append(elapsed)
    return Timing(tuple(samples))


def compile_and_time(fn: Callable, *args, repeats: int = 3, warmup: int = 0, **jit_kwargs):
    """`compile_ahead` then `time_calls`. Returns `(executable, compile_seconds, Timing, last_output)`.

    With `warmup=0` the first timed call is the executable's first run; XLA has no
    further lazy work after `compile()`, so it is not special.
    """
    executable, compile_s = compile_ahead(fn, *args, **jit_kwargs)
    output = None

    def call(*call_args):
        nonlocal output
        output = executable(*call_args)
        return output

    timing = time_calls(call, *args, repeats=repeats, warmup=warmup)
    return executable, compile_s, timing, output


def train_seeds_sharded(algo, config, num_seeds: int, key, repeats: int = 3, devices: int | None = None) -> dict:
    """`num_seeds` runs of `config` as `pgjax train --seeds` runs them: one program
    (`scan.train_runs`) sharded over `runs_mesh(num_seeds, devices)` (default: as many devices as
    the runs fill, at the fewest runs per device), compiled ahead, then timed (`compile_and_time`).

    Returns `{"compile_s", "timing", "devices", "states" [S], "metrics" {name: [iterations, S]}}`,
    the padding runs dropped; the seed keys are `jax.random.split(key, num_seeds)`."""
    from pgjax.algorithms import scan
    from pgjax.runs import RunSharding, runs_mesh

    layout = RunSharding(num_seeds, runs_mesh(num_seeds, devices))
    program, out_shardings = layout.program(lambda c, k: scan.train_runs(algo.init, algo.update, c, k))
    configs, keys = layout.place((scan.stack_runs(config, [{}], num_seeds), jax.random.split(key, num_seeds)))
    _, compile_s, timing, (states, metrics) = compile_and_time(
        program, configs, keys, repeats=repeats, out_shardings=out_shardings)
    return {"compile_s": compile_s, "timing": timing, "devices": layout.mesh.size, "states": layout.unpad(states),
            "metrics": {name: np.asarray(value)[:, :num_seeds] for name, value in metrics.items()}}


# ---------------------------------------------------------------- machine description


def cpu_description() -> str:
    """CPU model and logical core count as /proc/cpuinfo states them (platform fallback)."""
    model, cores = None, 0
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name") and model is None:
                    model = line.split(":", 1)[1].strip()
                if line.startswith("processor"):
                    cores += 1
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    cores = cores or os.cpu_count() or 0
    return f"{model}, {cores} cores"


def device_description() -> str:
    """The JAX backend and its devices, e.g. `cpu: 1 × TFRT_CPU_0` or `gpu: 1 × NVIDIA H100`."""
    devices = jax.devices()
    kinds = sorted({getattr(d, "device_kind", str(d)) for d in devices})
    return f"{jax.default_backend()}: {len(devices)} × {', '.join(kinds)}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions(extra: Sequence[str] = ()) -> dict[str, str]:
    names = ["jax", "jaxlib", "flax", "optax", "gymnax", *extra]
    return {"python": platform.python_version(), **{name: _version(name) for name in names}}


def header(title: str, extra_versions: Sequence[str] = (), notes: Sequence[str] = (), timed: bool = True) -> str:
    """Markdown heading plus the date / machine / versions block every table carries
    (and the timing protocol, for a table that has timings: `timed`)."""
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    version_text = ", ".join(f"{k} {v}" for k, v in versions(extra_versions).items())
    load = ""
    if hasattr(os, "getloadavg"):
        load = f" (1-min load average at start: {os.getloadavg()[0]:.2f})"
    lines = [
        f"## {title}",
        "",
        f"- date: {now}",
        f"- machine: {cpu_description()}; JAX devices: {device_description()}{load}",
        f"- versions: {version_text}",
        *(["- protocol: compile time measured apart (`jax.jit(f).lower(...).compile()`); "
           "run figures are the median of ≥3 timed calls with (min–max)."] if timed else []),
        *[f"- {note}" for note in notes],
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def new_figure(width: float = 6.4, height: float = 4.0, ncols: int = 1):
    """A matplotlib Figure on an Agg canvas (no pyplot global state, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * ncols, height))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, ncols) if ncols > 1 else figure.subplots()
    return figure, axes


def save_figure(figure, name: str, folder: Path = BENCH_DIR) -> str:
    """Save as `<folder>/<name>.png` (`benchmarks/` by default; a study passes `studies/`);
    returns the markdown that shows it."""
    figure.tight_layout()
    figure.savefig(folder / f"{name}.png", dpi=110)
    return f"![{name}]({name}.png)\n"


def write_section(name: str, markdown: str, folder: Path = BENCH_DIR) -> str:
    """Write `<folder>/<name>.md` (`benchmarks/` by default; a study passes `studies/`) and
    return the markdown."""
    (folder / f"{name}.md").write_text(markdown)
    return markdown


def parse_quick(argv: Sequence[str] | None = None) -> bool:
    """`--quick` on the command line: shrink every benchmark for a smoke run."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small step counts, for a smoke run")
    return parser.parse_args(argv).quick


def first_reaching(values: np.ndarray, threshold: float) -> int | None:
    """Index of the first entry ≥ `threshold` (NaNs never reach it), or None."""
    hits = np.flatnonzero(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=-np.inf) >= threshold)
    return int(hits[0]) if hits.size else None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
