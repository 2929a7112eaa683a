"""A `Config` as text and as JSON: `field=value` overrides read with the fields' types, and the
flat `{field: value}` JSON that run folders (`config.json`) and checkpoints save.

Text is read by the type of the field's default: `anneal_lr=false`, `num_envs=8` (also `1e3`),
`learning_rate=3e-4`, `hidden_sizes=64,64`, `env_params=max_steps_in_episode:200`. Malformed
text raises `ValueError` naming the field, for a caller (the `pgjax` command) to report.

JSON has no tuples, so `config_to_json` writes them as lists and `config_from_json` makes them
tuples again; the JSON stays flat (field -> value) so that every saved config still loads.
"""

from __future__ import annotations


import jax
import numpy as np

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_number(text: str) -> int | float:
    """`text` as an int if it reads as one (`8`), else as a float (`3e-4`, `1e6`)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def parse_int(text: str) -> int:
    """`text` as an int, accepting whole numbers written as floats (`1e6`, `2_000.0`) but not `2.5`."""
    number = parse_number(text)
    if isinstance(number, float) and not number.is_integer():
        raise ValueError(f"{text!r} is not an integer")
    return int(number)


def _parse_tuple(text: str, default: tuple) -> tuple:
    """`64,64` -> (64, 64) when the default holds numbers; `name:value,...` -> pairs
    (for `env_params`) when the default is empty or holds pairs."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if default and not isinstance(default[0], tuple):
        kind = type(default[0])
        return tuple(parse_int(item) if kind is int else kind(item) for item in items)
    pairs = []
    for item in items:
        name, sep, value = item.partition(":")
        if not sep:
            raise ValueError(f"expected name:value pairs separated by commas, got {item!r}")
        pairs.append((name.strip(), parse_number(value.strip())))
    return tuple(pairs)


def parse_value(text: str, default):
    """`text` read as the type of the field's `default` (bool, int, float, tuple, str)."""
    if isinstance(default, bool):  # before int: a bool is an int
        lowered = text.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError(f"expected true or false, got {text!r}")
    if isinstance(default, int):
        return parse_int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, tuple):
        return _parse_tuple(text, default)
    if isinstance(default, str):
        return text
    try:  # no typed default (None): a number if it reads as one
        return parse_number(text)
    except ValueError:
        return text


def parse_overrides(config_cls, assignments: list[str]) -> dict:
    """`["field=value", ...]` -> typed overrides of `config_cls`'s fields.

    Unknown fields pass through as strings, for `Config.make` to reject with the list of known
    fields. Raises `ValueError` naming the field (or the malformed assignment).
    """
    defaults = {name: field.default for name, field in config_cls.field_specs().items()}
    overrides = {}
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"expected field=value, got {assignment!r}")
        if name not in defaults:
            overrides[name] = text
            continue
        try:
            overrides[name] = parse_value(text, defaults[name])
        except ValueError as error:
            kind = type(defaults[name]).__name__
            raise ValueError(f"{name}: expected a value of type {kind}, got {text!r} ({error})") from None
    return overrides


def config_to_json(config) -> dict:
    """The config's fields as JSON-able values (tuples become lists, scalars plain numbers)."""

    def plain(value):
        if isinstance(value, (tuple, list)):
            return [plain(item) for item in value]
        if isinstance(value, (np.ndarray, np.generic, jax.Array)):
            array = np.asarray(value)
            if array.ndim:  # a list would load back as a tuple, not as the array of many runs
                raise ValueError(f"config: a saved config must hold scalars, got an array of shape {array.shape}")
            return array.item()
        return value

    return {name: plain(value) for name, value in config.flat_fields().items()}


def config_from_json(algo, fields: dict):
    """Inverse of `config_to_json` for the algorithm module `algo`: lists become tuples again."""

    def tupled(value):
        return tuple(tupled(item) for item in value) if isinstance(value, list) else value

    return algo.Config.make(**{name: tupled(value) for name, value in fields.items()})
