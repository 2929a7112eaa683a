"""The commands' persistent compilation cache: on by default, in a per-user folder.

None of the commands' programs holds a host callback, so JAX's persistent compilation cache
can keep them: a second `pgjax train` with the same shapes, a `--resume` or a sweep run again
loads its programs instead of compiling them. The folder, in order of precedence:

1. `--compile-cache DIR` (or `--compile-cache off`);
2. the environment variable `PGJAX_COMPILE_CACHE` (a folder, or `off`);
3. JAX's own `JAX_COMPILATION_CACHE_DIR`, if set (pgjax then leaves JAX's settings alone);
4. `$XDG_CACHE_HOME/pgjax/jax`, or `~/.cache/pgjax/jax`.

A cached program is the same compiled program, so the numbers do not change. The library
(`import pgjax`) never turns the cache on: that stays the user's choice.
"""

from __future__ import annotations

import os
from pathlib import Path

OFF = "off"
ENV_VAR = "PGJAX_COMPILE_CACHE"


def default_folder() -> Path:
    """`$XDG_CACHE_HOME/pgjax/jax`, or `~/.cache/pgjax/jax`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pgjax" / "jax"


def choose(flag: str | None) -> Path | None:
    """The cache folder the command uses (None: no cache of pgjax's choosing), from the flag,
    the environment and the default, in that order."""
    for setting in (flag, os.environ.get(ENV_VAR)):
        if setting:
            return None if setting.strip().lower() == OFF else Path(setting).expanduser()
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None  # JAX's own variable is in force; leave it be
    return default_folder()


def enable(flag: str | None) -> Path | None:
    """Turn JAX's persistent compilation cache on in the chosen folder, before anything compiles;
    returns the folder (None when off or left to JAX's own variable)."""
    import jax

    folder = choose(flag)
    if folder is not None:
        jax.config.update("jax_compilation_cache_dir", str(folder))
    return folder
