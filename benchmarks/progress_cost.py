"""What `pgjax train`'s live progress costs: the same program with and without its callback.

PPO on CartPole-v1 at the classic settings (4 envs x 128 steps, 4 epochs x 4 minibatches,
64-64 tanh), 1 seed, run exactly as `pgjax train` runs it (`pgjax.sweep.train_runs_sharded`),
four ways, each compiled ahead of time and timed side by side in this one process:

- `none`: no callback at all (the ceiling);
- `empty, every iteration`: a callback that does nothing, reported after every iteration (the
  price of returning to the host once per iteration: the command's programs are compiled
  blocks run from the host, `pgjax.runners`, so that JAX's persistent cache can keep them);
- `pgjax train, every iteration`: the command's own callback, `pgjax.progress.Progress`, with
  its bar (written to a throw-away stream) and its `metrics.csv` sink, reported after every
  iteration (as the command did before it batched its reports);
- `pgjax train`: the same callback as the command runs it now, reported once per block of
  `Progress.report_every` iterations (`pgjax.runners.run_reported`; until 2026-12-02 the
  same blocks reported through an `io_callback` inside one program, which the cache cannot keep).

Env-steps/s is the median of `REPEATS` runs (min–max). The target (issue "Speed, side by
side", item 5) is that the command's callback costs at most 5 % against `none`.

Run: `python -m benchmarks.progress_cost [--quick]` -> `benchmarks/progress_cost.md`.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time

import jax

from benchmarks import common
from benchmarks.ppo_throughput import classic_config
from pgjax import ppo
from pgjax.progress import Progress
from pgjax.logging import MetricsLogger, make_sink
from pgjax.sweep import stack_runs, train_runs_sharded

REPEATS = 7


def _time(config, callback_factory, batched: bool) -> float:
    """Env-steps/s of one run with a fresh callback from `callback_factory()`, reported in the
    command's blocks if `batched`, else after every iteration."""
    configs, keys = stack_runs(config, [{}], 1), jax.random.split(jax.random.PRNGKey(0), 1)
    with callback_factory() as callback:
        report_every = getattr(callback, "report_every", 1) if batched else 1
        _, _, _, seconds = train_runs_sharded(
            ppo, configs, keys, callback, on_compiled=getattr(callback, "start", None), report_every=report_every,
        )
    return config.num_iterations * config.batch_size / seconds


@contextlib.contextmanager
def _none():
    yield None


@contextlib.contextmanager
def _empty():
    yield lambda metrics: False


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


def section(quick: bool = False) -> str:
    config = classic_config(2**16 if quick else 500_000)
    repeats = 2 if quick else REPEATS
    variants = {
        "none": (_none, False),
        "empty, every iteration": (_empty, False),
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
    base = statistics.median(rates["none"])
    rows = [[name, f"{statistics.median(values):,.0f}", f"{min(values):,.0f}–{max(values):,.0f}",
             f"{100 * (1 - statistics.median(values) / base):+.1f} %"] for name, values in rates.items()]
    return "\n".join([
        common.header("What the progress callback costs"),
        f"PPO, CartPole-v1, classic settings, 1 seed, {config.num_iterations * config.batch_size:,} env steps per run, "
        f"as `pgjax train` runs it; {repeats} interleaved runs per variant (compiled ahead, compile time excluded), "
        f"{time.perf_counter() - started:.0f} s in all. The command reports once per "
        f"{Progress(None, config, 1, enabled=False).report_every} iterations here "
        f"({config.batch_size} env steps each; the bar and the metric files still get every iteration).",
        "",
        common.table(["callback", "env-steps/s (median)", "range", "cost vs none"], rows),
    ])


def main(argv=None) -> None:
    quick = common.parse_quick(argv)
    print(common.write_section("progress_cost", section(quick)))


if __name__ == "__main__":
    main()
