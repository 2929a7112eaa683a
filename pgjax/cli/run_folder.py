"""Run folders that never lose work: refuse to clobber, and keep a second process out.

A run folder belongs to one `pgjax` process at a time. `RunFolder.claim` creates it (or
checks that an existing one may be used), then takes an exclusive lock on `run.lock`
inside it, held until the process exits or `release` is called. The lock is an
advisory `flock`, so it disappears with the process that held it, even after SIGKILL:
a crashed run never leaves a stale lock behind.

An existing folder is used only when asked for: `resume` continues the run in it, and
`overwrite` replaces a previous pgjax run (only a folder that holds one: `run.json` or
`config.json`), deleting its files after the lock is taken. Anything else is refused
with a `RunFolderError` that names the folder and the way out.

`write_json` writes the folder's JSON files (`config.json`, `run.json`, `summary.json`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

from pgjax.report.sinks import json_ready

LOCK_FILE = "run.lock"
# Files a pgjax run folder is recognised by.
MARKERS = ("run.json", "config.json")


class RunFolderError(Exception):
    """The run folder cannot be used as asked; the message is one line for the user."""


def _is_run_folder(path: Path) -> bool:
    return any((path / marker).is_file() for marker in MARKERS)


def _contents(path: Path) -> list[Path]:
    return [entry for entry in path.iterdir() if entry.name != LOCK_FILE]


class RunFolder:
    """An exclusively locked run folder; `path` is where its files go."""

    def __init__(self, path: Path, lock_fd: int):
        self.path = path
        self._lock_fd = lock_fd

    @classmethod
    def claim(cls, path: Path, *, resume: bool = False, overwrite: bool = False, flag: str = "--out") -> RunFolder:
        """Create or open `path` as a run folder and lock it.

        - a new or empty folder is always fine;
        - `resume`: the folder must already hold a run (checked by the caller) and is kept;
        - `overwrite`: an existing pgjax run in it is deleted, after the lock is taken;
        - otherwise a non-empty folder is refused.
        Raises `RunFolderError` (naming `flag` and the folder) instead of touching anything.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{flag} {path}: exists and is not a folder")
        existing = path.is_dir() and bool(_contents(path))
        if existing and not resume:
            if not overwrite:
                raise RunFolderError(
                    f"{flag} {path}: already holds {'a run' if _is_run_folder(path) else 'files'}; "
                    "choose a new folder, continue a checkpointed run with --resume, or replace it with --overwrite"
                )
            if not _is_run_folder(path):
                raise RunFolderError(
                    f"{flag} {path}: is not empty and holds no pgjax run (no {' or '.join(MARKERS)}), "
                    "so --overwrite will not delete it; choose another folder"
                )
        try:
            path.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RunFolderError(f"{flag} {path}: cannot create the run folder ({error.strerror or error})") from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(lock_fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(lock_fd)
            raise RunFolderError(
                f"{flag} {path}: is in use by another pgjax process (pid {holder}); wait for it to finish"
            ) from None
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
        folder = cls(path, lock_fd)
        if existing and overwrite and not resume:
            folder.clear()
        return folder

    def clear(self) -> None:
        """Delete everything in the folder but the lock (we hold it)."""
        for entry in _contents(self.path):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def write_json(path: Path, value) -> None:
    """One of a run folder's JSON files: indented, NaN and inf as null (they are not JSON)."""
    path.write_text(json.dumps(json_ready(value), indent=2) + "\n")
