"""Which process writes, and what each holds: at least one run per process, and the run folder,
named and claimed by process 0 (the device count is `pgjax.cli.devices`'s).

On several processes (`--distributed`) every process runs the same command and takes part in
every program, collective and checkpoint; process 0 alone claims the run folder, writes the
metric files, summaries and plots, and prints. So that no process is left waiting in a
collective for one that failed, a usage error on process 0 is raised on every process
(`on_primary`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pgjax.cli.errors import UsageError
from pgjax.cli.run_folder import RunFolder, RunFolderError
from pgjax.runs.distributed import broadcast_text, check_runs_per_process, is_primary


def at_least_one_run_per_process(num_runs: int, mesh, flag: str) -> None:
    try:
        check_runs_per_process(num_runs, mesh)
    except ValueError as error:
        raise UsageError(f"{flag}: {str(error).removeprefix('num_runs: ')}") from None


def on_primary(action):
    """`action()` on process 0 alone (its result there, None elsewhere). A `UsageError` it
    raises is raised on every process, so that none is left waiting in a collective for it."""
    result, error = None, ""
    if is_primary():
        try:
            result = action()
        except UsageError as failure:
            error = str(failure) or "failed on process 0"
    error = broadcast_text(error)
    if error:
        raise UsageError(error)
    return result


def claim(run_dir: Path, *, resume: bool, overwrite: bool, flag: str) -> RunFolder:
    """The run folder, claimed (created, checked and locked) by process 0. The others wait for
    its answer, so that all of them fail alike, or all go on with the folder ready."""
    def claim_here():
        try:
            return RunFolder.claim(run_dir, resume=resume, overwrite=overwrite, flag=flag)
        except RunFolderError as error:
            raise UsageError(str(error)) from None

    folder = on_primary(claim_here)
    return folder if folder is not None else RunFolder(Path(run_dir), lock_fd=None)


def default_run_dir(name: str, env: str) -> Path:
    """`runs/<name>-<env>-<timestamp>`, unused so far; on several processes, process 0's
    choice (their clocks and views of the folder may differ)."""
    return Path(broadcast_text(str(_new_run_dir(name, env)) if is_primary() else ""))


def _new_run_dir(name: str, env: str) -> Path:
    stem = Path("runs") / f"{name}-{env}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir, suffix = stem, 1
    while run_dir.exists():
        suffix += 1
        run_dir = stem.with_name(f"{stem.name}-{suffix}")
    return run_dir


def warn(message: str) -> None:
    """A warning line on stderr, from process 0 alone (every process would say the same)."""
    if is_primary():
        print(f"warning: {message}", file=sys.stderr, flush=True)
