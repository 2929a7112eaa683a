"""The `pgjax` command line; `main` is its entry point (`pgjax.cli.main`, with the parser).

Read in this order: `errors` and `defaults` (leaves: exit codes, `UsageError`, what is assumed
when not told); `main`, the light parser, which imports the commands only after `--distributed`
has started JAX's runtime; the commands, `listing` (`pgjax list`), `train` (and `--resume`) and
`sweep`; and what they share: `arguments` (ALGO, ENV, `--set`), `processes` (devices, and the
run folder that process 0 names and claims), `run_folder` (claims, locks and JSON files),
`sinks` (`--log`), `graceful_stop` (Ctrl-C and SIGTERM), `summary` (the end of a train) and
`tasks` (what a kind of task adds to a report).
"""

from pgjax.cli.main import main

__all__ = ["main"]
