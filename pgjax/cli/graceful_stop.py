"""Ctrl-C and SIGTERM during a run: stop at the next report, keeping what was trained.

`GracefulStop` is the stop request `pgjax.report.progress.Progress` answers the training loop
with; a second signal leaves at once.
"""

from __future__ import annotations

import os
import signal
import sys

from pgjax.cli.errors import INTERRUPTED

# The signals a user (Ctrl-C) or a scheduler (SIGTERM) stops a run with; a run stopped for any
# other reason (every seed went NaN, a metric file failed) was not interrupted.
STOP_SIGNALS = ("SIGINT", "SIGTERM")


class GracefulStop:
    """While active, SIGINT (Ctrl-C) and SIGTERM ask the run to stop at the next iteration
    boundary instead of killing it; a second signal stops at once (exit code 130).

    `requested` is the request; `reason` names what made it (a signal's name, or a reason
    `Progress` sets itself)."""

    def __init__(self):
        self.requested = False
        self.reason = None

    def __enter__(self):
        self._previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in self._previous:
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            # The compiled program is still running on other threads; a clean interpreter
            # shutdown would wait for it. Files are flushed every iteration, so leave now.
            print("\nstopped at once", file=sys.stderr, flush=True)
            os._exit(INTERRUPTED)
        self.requested, self.reason = True, signal.Signals(signum).name
        print(f"\n{self.reason}: stopping at the next report, within a second (again to stop at once)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
