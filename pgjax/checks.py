"""Argument checks shared by every layer: each raises `ValueError` naming the argument and the
rule it breaks, before anything is traced or compiled. Traced values (inside `jit`/`vmap`)
cannot be inspected; the numeric checks let them pass (configs check them when built)."""

from __future__ import annotations

import jax
import numpy as np


def is_int(value) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_positive_int(name: str, value) -> None:
    """`value` must be a positive integer (not a bool)."""
    if not (is_int(value) and value > 0):
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")


def check_positive(name: str, value) -> None:
    """`value` (a number or an array of them) must be > 0 everywhere, unless it is traced."""
    if isinstance(value, jax.core.Tracer):
        return
    if not np.all(np.asarray(value) > 0):
        raise ValueError(f"{name}: must be > 0, got {value!r}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """`value` must be one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")
