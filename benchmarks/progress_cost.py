"""What `pgjax train`'s live progress costs: the same program with and without its callback.

PPO on CartPole-v1 at the classic settings (4 envs x 128 steps, 4 epochs x 4 minibatches,
64-64 tanh), 1 seed, run exactly as `pgjax train` runs it (`pgjax.sweep.train_runs_sharded`),
three ways, each compiled ahead of time and timed side by side in this one process:

- `none`: no callback at all (the ceiling);
- `empty`: a callback that does nothing (the price of leaving the compiled program once per
  iteration);
- `pgjax train`: the command's own callback, `pgjax.commands._Progress`, with its bar
  (written to a throw-away stream) and its `metrics.csv` sink.

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
from pgjax.commands import _Progress
from pgjax.logging import MetricsLogger, make_sink
from pgjax.sweep import stack_runs, train_runs_sharded

REPEATS = 5


def _time(config, callback_factory, repeats: int) -> list[float]:
    """Env-steps/s of `repeats` runs, each with a fresh callback from `callback_factory()`."""
    rates = []
    configs, keys = stack_runs(config, [{}], 1), jax.random.split(jax.random.PRNGKey(0), 1)
    for _ in range(repeats):
        with callback_factory() as callback:
            _, _, _, seconds = train_runs_sharded(ppo, configs, keys, callback, on_compiled=getattr(callback, "start", None))
        rates.append(config.num_iterations * config.batch_size / seconds)
    return rates


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
                progress = _Progress(logger, config, 1, enabled=True)
                try:
                    yield progress
                finally:
                    progress.close()

    return factory


def section(quick: bool = False) -> str:
    config = classic_config(2**16 if quick else 500_000)
    repeats = 2 if quick else REPEATS
    variants = {"none": _none, "empty": _empty, "pgjax train": _command_progress(config)}
    rates = {name: [] for name in variants}
    started = time.perf_counter()
    # Interleaved, so that a change in the machine's load falls on every variant alike.
    for repeat in range(repeats):
        for name, factory in variants.items():
            common.log(f"progress_cost: {name}, repeat {repeat + 1}/{repeats}")
            rates[name] += _time(config, factory, 1)
    base = statistics.median(rates["none"])
    rows = [[name, f"{statistics.median(values):,.0f}", f"{min(values):,.0f}–{max(values):,.0f}",
             f"{100 * (1 - statistics.median(values) / base):+.1f} %"] for name, values in rates.items()]
    return "\n".join([
        common.header("What the progress callback costs"),
        f"PPO, CartPole-v1, classic settings, 1 seed, {config.num_iterations * config.batch_size:,} env steps per run, "
        f"as `pgjax train` runs it; {repeats} interleaved runs per variant (compiled ahead, compile time excluded), "
        f"{time.perf_counter() - started:.0f} s in all.",
        "",
        common.table(["callback", "env-steps/s (median)", "range", "cost vs none"], rows),
    ])


def main(argv=None) -> None:
    quick = common.parse_quick(argv)
    print(common.write_section("progress_cost", section(quick)))


if __name__ == "__main__":
    main()
