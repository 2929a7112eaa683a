"""The host side of a command's training callback: a live progress bar and the metrics stream.

The host runs the compiled program in blocks of iterations and hands each block's metrics to
the callback while the next block runs (`pgjax.runs.driver.run_reported`); the answer is a stop
request. Whatever the host does there longer than a block delays the next dispatch, so
`Progress` takes a whole block at once (`report_block`), only queues it, checks it for NaN and
answers with the stop request as it stands; a worker thread writes the metric files and moves
the bar. Per block, not per iteration: on a CPU the host's work takes its time from the
compiled program (what that costs: studies/progress_cost.md). `close()` drains the queue, so
no row is lost when a run ends or is stopped.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from pgjax.report.divergence import NAN_UNTIL_FIRST_EPISODE
from pgjax.report.sinks import MetricsLogger

# Env steps (all runs together) between two reports to the host, and the most iterations one
# block may hold: each block is a call of a compiled program from the host, which costs the
# device time (studies/progress_cost.md), while blocks short enough keep the bar and Ctrl-C
# answering within a fraction of a second.
STEPS_PER_REPORT = 32_768
MAX_REPORT_EVERY = 64


def report_every(batch_size: int, num_runs: int) -> int:
    """Iterations per report: about `STEPS_PER_REPORT` env steps of all runs, at most
    `MAX_REPORT_EVERY` iterations, at least one."""
    return max(1, min(MAX_REPORT_EVERY, STEPS_PER_REPORT // (batch_size * num_runs)))


class Progress:
    """Training callback: per-iteration metrics (`[R]` leaves) into `logger` (if given) and a
    bar over one run's env steps, whose postfix shows the throughput of all runs.

    Called with one iteration (`progress(metrics)`, for a caller that hands them one by one) or
    a block of them (`progress.report_block(block)`, leaves `[k, R]`, as every pgjax training
    function does through `pgjax.algorithms.scan.hand_block`).
    Returns True (stop at the next report) once `stop.requested` is set (Ctrl-C, see the
    commands' `_GracefulStop`) or every run has gone NaN. `report_every` is the block length
    to pass to the training function. Call `start()` when training starts and `close()` after.
    """

    def __init__(self, logger: MetricsLogger | None, config, num_runs: int, enabled: bool, stop=None):
        self.report_every = report_every(config.batch_size, num_runs)
        self.logger = logger
        self.config = config
        self.num_runs = num_runs
        self.enabled = enabled
        self.stop = stop
        self.bar = None
        self.went_nan = np.zeros(num_runs, bool)
        self._rows: queue.Queue = queue.Queue()
        self._worker = None
        self._error: BaseException | None = None

    def start(self, initial_iterations: int = 0) -> None:
        """Start the clock, the bar and the worker; called after compilation so that none of
        them counts it. A resumed run starts at `initial_iterations`."""
        from tqdm.auto import tqdm

        self.start_time = time.perf_counter()
        self.initial_steps = initial_iterations * self.config.batch_size
        self.bar = tqdm(
            total=self.config.num_iterations * self.config.batch_size, initial=self.initial_steps, unit="step",
            desc="training", disable=not self.enabled, dynamic_ncols=True,
            # tqdm's own rate would count one run only; the postfix gives all runs' rate.
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]",
        )
        self._worker = threading.Thread(target=self._work, name="pgjax-progress", daemon=True)
        self._worker.start()

    def __call__(self, metrics: dict) -> bool:
        """One iteration's metrics (`[R]` leaves); the answer is the stop request."""
        return self.report_block({name: np.asarray(values)[None] for name, values in metrics.items()})

    def report_block(self, block: dict) -> bool:
        """A block of iterations' metrics at once (`[k, R]` leaves, `pgjax.algorithms.scan.hand_block`):
        the host's work per block, not per iteration, so the compiled program keeps the cores."""
        # Copies: the arrays the program lends the callback are not ours to keep.
        block = {name: np.array(values) for name, values in block.items()}
        self._rows.put((block, time.perf_counter()))
        # Checked here rather than by the worker (it takes microseconds), so that a diverged
        # run stops at the end of the block in which its last seed went NaN, every time.
        for name, values in block.items():
            if name not in NAN_UNTIL_FIRST_EPISODE and np.issubdtype(values.dtype, np.floating):
                k = len(values)
                self.went_nan |= np.isnan(np.broadcast_to(values.reshape(k, -1), (k, self.num_runs))).any(axis=0)
        if self.went_nan.all() and self.stop is not None and not self.stop.requested:
            self.stop.requested, self.stop.reason = True, "all seeds went NaN"
        return self._stop_requested()

    def _stop_requested(self) -> bool:
        return bool(self.stop is not None and self.stop.requested)

    def _work(self) -> None:
        while (item := self._rows.get()) is not None:
            if self._error is None:
                try:
                    self._show(*item)
                except BaseException as error:  # re-raised by close(); stop the run meanwhile
                    self._error = error
                    if self.stop is not None and not self.stop.requested:
                        self.stop.requested, self.stop.reason = True, f"metrics could not be written ({error})"

    def _show(self, block: dict, reported_at: float) -> None:
        k = len(block["env_steps"])
        env_steps = block["env_steps"].reshape(k, -1).max(axis=1)
        if self.logger is not None:
            self.logger.log_block((env_steps // self.config.batch_size).tolist(), block)
        returns = np.asarray(block["episode_return"][-1], dtype=np.float64)
        elapsed = max(reported_at - self.start_time, 1e-9)
        self.bar.set_postfix(
            {"env-steps/s": f"{(int(env_steps[-1]) - self.initial_steps) * self.num_runs / elapsed:,.0f}",
             "return": f"{np.nanmean(returns):.1f}" if np.any(np.isfinite(returns)) else "n/a"},
            refresh=False,
        )
        self.bar.update(int(env_steps[-1]) - self.bar.n)

    def close(self) -> None:
        """Write every queued row, close the bar, and re-raise an error the worker met."""
        if self._worker is not None:
            self._rows.put(None)
            self._worker.join()
            self._worker = None
        if self.bar is not None:
            self.bar.close()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
