"""Validated dataclass fields: every field carries a `Rule` (a predicate and the sentence
that states it), checked when the dataclass is built, so a bad value fails with a
`ValueError` naming the field and the rule before any compilation.

- `static(...)` fields fix array shapes or program structure: pytree metadata, so changing
  one means a new compilation.
- `hyper(...)` fields are numeric hyperparameters: pytree leaves, so they may be traced
  (vmapped over runs). Traced values cannot be inspected and are not checked; they were
  checked when the concrete config was built.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any

import gymnax
import jax
import numpy as np
from flax import struct

from pgjax.checks import is_int
from pgjax.networks import ACTIVATIONS, NETWORKS


@dataclasses.dataclass(frozen=True)
class Rule:
    """A predicate on one value and the sentence that states it."""

    holds: Callable[[Any], bool]
    text: str


POSITIVE_INT = Rule(lambda v: is_int(v) and v > 0, "must be a positive integer")
BOOL = Rule(lambda v: isinstance(v, (bool, np.bool_)), "must be True or False")
ENV_NAME = Rule(lambda v: v in gymnax.registered_envs, "must be a gymnax-registered environment (see `pgjax list`)")
HIDDEN_SIZES = Rule(
    lambda v: isinstance(v, tuple) and len(v) > 0 and all(is_int(s) and s > 0 for s in v),
    "must be a non-empty tuple of positive integers",
)
ACTIVATION = Rule(lambda v: v in ACTIVATIONS, f"must be one of {', '.join(ACTIVATIONS)}")
NETWORK = Rule(
    lambda v: v in NETWORKS, "must be one of the registered networks: mlp, gru, transformer, or a name added with "
    "pgjax.register_network",
)
ENV_PARAMS = Rule(
    lambda v: isinstance(v, tuple) and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in v),
    "must be a tuple of (name, value) pairs",
)

# Numeric rules act element-wise, so an array of values (for vmap) is checked whole.
POSITIVE = Rule(lambda v: np.all(v > 0), "must be > 0")
NON_NEGATIVE = Rule(lambda v: np.all(v >= 0), "must be >= 0")
UNIT_INTERVAL = Rule(lambda v: np.all((v >= 0) & (v <= 1)), "must be in [0, 1]")
OPEN_UNIT_INTERVAL = Rule(lambda v: np.all((v > 0) & (v < 1)), "must be in (0, 1)")
LOG_STD = Rule(
    lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and -20 <= v <= 20,
    "must be a number in [-20, 20] (σ from 2e-9 to 5e8; beyond, float32 σ or its log-density overflows)",
)


def one_of(choices) -> Rule:
    """A rule for a field that names one of `choices`."""
    choices = tuple(choices)
    return Rule(lambda v: v in choices, f"must be one of {', '.join(choices)}")


def suggest(name: str, known) -> list[str]:
    """The known names closest to a misspelt `name` (at most three, best first)."""
    return difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)


def static(default, rule: Rule, doc: str = "", label: str | None = None):
    """A structural field: part of the compiled program's identity. `label`: the name errors
    give it, where that differs from the attribute's (`NetworkConfig.kind` is `network`)."""
    metadata = {"rule": rule, "doc": doc} | ({"label": label} if label else {})
    return struct.field(pytree_node=False, default=default, metadata=metadata)


def hyper(default, rule: Rule, doc: str = ""):
    """A numeric hyperparameter: a traceable, vmappable leaf."""
    return struct.field(pytree_node=True, default=default, metadata={"rule": rule, "doc": doc})


def _concrete_numeric(value) -> np.ndarray | None:
    """The value as a float array if it can be inspected now, else None (a tracer, or a
    placeholder that JAX puts in leaves while it manipulates pytrees)."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.ndarray, np.number, jax.Array)):
        try:
            return np.asarray(value, dtype=np.float64)
        except Exception:  # e.g. a deleted or non-addressable array
            return None
    return None


def check_fields(obj) -> None:
    """Check every field of the dataclass `obj` against its rule; raise `ValueError` naming the
    field (its `label` where it has one) and the rule. Traced numeric leaves are skipped."""
    for field in dataclasses.fields(obj):
        rule = field.metadata.get("rule")
        value = getattr(obj, field.name)
        name = field.metadata.get("label", field.name)
        if rule is None:
            continue
        if field.metadata.get("pytree_node", True):
            if isinstance(value, str):
                raise ValueError(f"{name}: {rule.text}, got the string {value!r}")
            if value is None or isinstance(value, (list, tuple, dict)):
                # A numeric leaf must be a number or an array; None (or a container) would
                # only fail later, inside `train`.
                raise ValueError(f"{name}: must be a number or an array of numbers, got {value!r}")
            value = _concrete_numeric(value)
            if value is None:
                continue
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name}: must be finite, got {value}")
        if not rule.holds(value):
            close = suggest(value, gymnax.registered_envs) if rule is ENV_NAME and isinstance(value, str) else []
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"{name}: {rule.text}, got {value!r}{hint}")
