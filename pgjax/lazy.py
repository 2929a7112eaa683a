"""Names a package exports but loads on first use (PEP 562), so that importing the package
starts nothing heavy: `import pgjax` and `import pgjax.runs` must leave JAX's backend (and its
distributed runtime) unstarted until a name is used."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, namespace: dict, exports: dict[str, str]) -> tuple[Callable, Callable]:
    """`(__getattr__, __dir__)` for the package `package` whose module namespace is `namespace`:
    `exports` maps each public name to the module that defines it; a name is imported on first
    access and then kept in the namespace, so later lookups skip `__getattr__`."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
