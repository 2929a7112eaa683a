"""How the `pgjax` command ends: its exit codes, and `UsageError` for a bad argument.

A leaf: it imports nothing from pgjax, so every command module (and the light parser) can use it.
"""

USAGE_ERROR = 2  # a bad argument: one `error: ...` line on stderr
RUN_FAILED = 1  # a run went NaN
INTERRUPTED = 130  # stopped by Ctrl-C or SIGTERM, as a shell reports SIGINT


class UsageError(Exception):
    """A bad argument: reported as one `error: ...` line, exit code 2."""
