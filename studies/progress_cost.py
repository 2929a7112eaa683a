"""What `pgjax train`'s live progress costs: the same program with and without its callback.

PPO on CartPole-v1 at the classic settings (4 envs x 128 steps, 4 epochs x 4 minibatches,
64-64 tanh), 1 seed, run exactly as `pgjax train` runs it (`pgjax.runs.train_runs_sharded`),
four ways, each compiled ahead of time and timed side by side in this one process:

- `none`: no callback at all (the ceiling);
- `empty, per block`: a callback that does nothing, handed each block of the command's
  length at once (what the blocks themselves cost: one host round trip per block);
- `pgjax train, every iteration`: the command's own callback, `pgjax.report.Progress`, with
  its bar (written to a throw-away stream) and its `metrics.csv` sink, reported after every
  iteration (as the command did before it batched its reports);
- `pgjax train`: the same callback as the command runs it now, handed each block of
  `Progress.report_every` iterations at once (`Progress.report_block`, called by
  `pgjax.runs.run_reported`). Until 2026-12-02 the same blocks were reported through an
  `io_callback` inside one program, which the cache cannot keep, and the callback then
  handled them one iteration at a time.

Env-steps/s is the median of `REPEATS` runs (min–max); the cost is paired, each run against
the `none` run of its round, because on a shared 2-core VM one run may differ from the next
by tens of percent, far more than the 5 % to be resolved. A second table gives the callback's own CPU time, which
has no such spread (`_host_work`). The target (issue "Speed, side by side", item 5) is that
the command's callback costs at most 5 % against `none`.

Run: `python -m studies.progress_cost [--quick]` -> `studies/progress_cost.md`.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time

import jax
import numpy as np

from benchmarks import common
from benchmarks.ppo_throughput import classic_config
from pgjax import ppo, train_runs_sharded
from pgjax.algorithms import scan
from pgjax.report import MetricsLogger, Progress, make_sink
from studies import STUDY_DIR

REPEATS = 30


def _time(config, callback_factory, batched: bool) -> float:
    """Env-steps/s of one run with a fresh callback from `callback_factory()`, reported in the
    command's blocks if `batched`, else after every iteration."""
    configs, keys = scan.stack_runs(config, [{}], 1), jax.random.split(jax.random.PRNGKey(0), 1)
    with callback_factory() as callback:
        report_every = getattr(callback, "report_every", 1) if batched else 1
        _, _, _, seconds = train_runs_sharded(
            ppo, configs, keys, callback, on_compiled=getattr(callback, "start", None), report_every=report_every,
        )
    return config.num_iterations * config.batch_size / seconds


@contextlib.contextmanager
def _none():
    yield None


class _EmptyBlocks:
    """Takes each block at once and does nothing with it; reports in the command's blocks."""

    def __init__(self, config):
        self.report_every = Progress(None, config, 1, enabled=False).report_every

    def __call__(self, metrics):
        return False

    def report_block(self, block):
        return False


def _empty_blocks(config):
    @contextlib.contextmanager
    def factory():
        yield _EmptyBlocks(config)

    return factory


def _command_progress(config):
    @contextlib.contextmanager
    def factory():
        with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stderr(io.StringIO()):
            with MetricsLogger([make_sink("csv", folder)], [0]) as logger:
                progress = Progress(logger, config, 1, enabled=True)
                try:
                    yield progress
                finally:
                    progress.close()

    return factory


def _host_work(config) -> list[list[str]]:
    """CPU seconds the command's callback spends on one run's metrics, handed over one
    iteration at a time or in the command's blocks: the metrics of a real run, replayed
    through `Progress` (with its bar and `metrics.csv`) without the program running, so the
    figure is free of the machine's run-to-run spread."""
    configs, keys = scan.stack_runs(config, [{}], 1), jax.random.split(jax.random.PRNGKey(0), 1)
    _, metrics, _, run_seconds = train_runs_sharded(ppo, configs, keys)
    block = scan.block_length(config.num_iterations, Progress(None, config, 1, enabled=False).report_every)
    rows = []
    for name, length in (("every iteration", 1), ("per block", block)):
        with _command_progress(config)() as progress:
            progress.start()  # the worker thread that writes metrics.csv and moves the bar
            started = time.process_time()  # this process's CPU, the bar's worker thread included
            for first in range(0, config.num_iterations, length):
                part = {key: values[first:first + length] for key, values in metrics.items()}
                if length == 1:
                    progress({key: values[0] for key, values in part.items()})
                else:
                    progress.report_block(part)
            progress.close()
            seconds = time.process_time() - started
        rows.append([name, f"{1e3 * seconds:.1f} ms", f"{1e6 * seconds / config.num_iterations:.0f} µs",
                     f"{100 * seconds / run_seconds:.1f} %"])
    return rows


def section(quick: bool = False) -> str:
    config = classic_config(2**16 if quick else 500_000)
    repeats = 2 if quick else REPEATS
    host_rows = _host_work(config)
    variants = {
        "none": (_none, False),
        "empty, per block": (_empty_blocks(config), True),
        "pgjax train, every iteration": (_command_progress(config), False),
        "pgjax train": (_command_progress(config), True),
    }
    rates = {name: [] for name in variants}
    started = time.perf_counter()
    # Interleaved, so that a change in the machine's load falls on every variant alike.
    for repeat in range(repeats):
        for name, (factory, batched) in variants.items():
            common.log(f"progress_cost: {name}, repeat {repeat + 1}/{repeats}")
            rates[name].append(_time(config, factory, batched))
    # Paired: each run against the `none` run of the same round, so that the machine's drift
    # (on a shared 2-core VM one run may differ from the next by tens of percent) falls on both sides of each ratio.
    costs = {name: [100 * (1 - rate / none) for rate, none in zip(values, rates["none"])] for name, values in rates.items()}
    rows = [
        [name, f"{statistics.median(values):,.0f}", f"{min(values):,.0f}–{max(values):,.0f}",
         f"{statistics.median(costs[name]):+.1f} %", _median_interval(costs[name]), _quartiles(costs[name])]
        for name, values in rates.items() if name != "none"
    ]
    rows.insert(0, ["none", f"{statistics.median(rates['none']):,.0f}",
                    f"{min(rates['none']):,.0f}–{max(rates['none']):,.0f}", "0 (the reference)", "", ""])
    block = scan.block_length(config.num_iterations, Progress(None, config, 1, enabled=False).report_every)
    return "\n".join([
        common.header("What the progress callback costs"),
        f"PPO, CartPole-v1, classic settings, 1 seed, {config.num_iterations * config.batch_size:,} env steps per run, "
        f"as `pgjax train` runs it; {repeats} interleaved rounds of one run per variant (compiled ahead, compile "
        f"time excluded), {time.perf_counter() - started:.0f} s in all. The command runs blocks of {block} "
        f"iterations here ({block * config.batch_size:,} env steps; the bar and the metric files still get every "
        "iteration). Cost: the median over the rounds of 1 − (variant's env-steps/s ÷ the `none` run's in the "
        "same round), with a 95 % bootstrap interval of that median and the quartiles of the paired costs.",
        "",
        common.table(["callback", "env-steps/s (median)", "range", "cost vs none (paired median)",
                      "95 % CI of that median", "quartiles"], rows),
        "",
        "The host's share, without the spread: the CPU time `Progress` (bar, NaN check, `metrics.csv`) takes "
        "for one run's metrics, replayed after the run, against that run's wall time with no callback. On two "
        "cores this work takes its time from the compiled program.",
        "",
        common.table(["handed over", "host CPU per run", "per iteration", "share of the run's time"], host_rows),
    ])


def _median_interval(values, resamples: int = 10_000) -> str:
    """95 % bootstrap interval of the median (percentile method, fixed seed)."""
    if len(values) < 4:
        return "–"
    draws = np.random.default_rng(0).choice(np.asarray(values), size=(resamples, len(values)))
    low, high = np.percentile(np.median(draws, axis=1), [2.5, 97.5])
    return f"{low:+.1f} % to {high:+.1f} %"


def _quartiles(values) -> str:
    if len(values) < 4:
        return "–"
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:+.1f} % to {high:+.1f} %"


def main(argv=None) -> None:
    quick = common.parse_quick(argv)
    # Every variant compiles the same programs again (each `train_runs_sharded` call compiles);
    # the commands' programs hold no host callback, so JAX's persistent cache serves the
    # repeats. Compile time is not part of any figure here.
    with tempfile.TemporaryDirectory() as cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        print(common.write_section("progress_cost", section(quick), STUDY_DIR))


if __name__ == "__main__":
    main()
