"""The `pgjax` command line (`main`); see `pgjax.cli.main` for the commands."""

from pgjax.cli.main import main

__all__ = ["main"]
