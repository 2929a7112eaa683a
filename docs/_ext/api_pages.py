"""The API reference, generated at build time from the package's public names.

`public_names()` is the one list of what pgjax calls public: the `pgjax` façade, each
subpackage's `__all__`, each algorithm module's protocol and the building-block modules'
own functions, classes and constants. Every name in it gets an entry from its docstring (autodoc), so a
new public name is in the reference without anyone adding it, and
`tests/docs/test_docstrings.py` fails on one without a docstring.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re
import types

DOCS = pathlib.Path(__file__).resolve().parent.parent

# (page, title, modules): each module's public names, documented where the user imports them.
PAGES = (
    ("blocks", "Building blocks", ("pgjax.advantages", "pgjax.losses", "pgjax.distributions", "pgjax.rollout",
                                   "pgjax.optim", "pgjax.layout", "pgjax.preferences", "pgjax.exact")),
    ("envs", "Environments", ("pgjax.envs", "pgjax.envs.tokens")),
    ("networks", "Networks", ("pgjax.networks",)),
    ("algorithms", "Algorithms", ("pgjax.algorithms", "pgjax.algorithms.ppo", "pgjax.algorithms.ppo_kl",
                                  "pgjax.algorithms.a2c", "pgjax.algorithms.trpo", "pgjax.algorithms.reinforce",
                                  "pgjax.algorithms.rloo", "pgjax.algorithms.grpo")),
    ("composing", "Composing an algorithm", ("pgjax.algorithms.build", "pgjax.algorithms.acting",
                                            "pgjax.algorithms.learning", "pgjax.algorithms.scan",
                                            "pgjax.algorithms.presets", "pgjax.algorithms.evaluation")),
    ("runs", "Runs, sweeps and checkpoints", ("pgjax.runs", "pgjax.runs.sweep", "pgjax.runs.distributed")),
    ("report", "Reporting and statistics", ("pgjax.report",)),
    ("cli", "Command line", ("pgjax.cli",)),
)

# What every algorithm module provides (the `pgjax.runs.Algorithm` protocol and its state).
PROTOCOL = ("Config", "TrainState", "init", "update", "train", "train_batch", "evaluate")


def module_names(module_name: str) -> list[str]:
    """The public names of one module: its `__all__`, the protocol of an algorithm module, or
    else the functions and classes it defines whose names do not start with `_`."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        names = list(module.__all__)
    elif module_name.rsplit(".", 1)[-1] in importlib.import_module("pgjax.algorithms").ALGORITHMS:
        names = [name for name in PROTOCOL if hasattr(module, name)]
    else:
        source = inspect.getsource(module)
        names = [name for name, obj in vars(module).items()
                 if not name.startswith("_") and (
                     (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) == module_name
                     or name.isupper() and re.search(rf"^{name}\b[^=\n]*=", source, re.M))]
    return [name for name in names if not isinstance(getattr(module, name), types.ModuleType)]


def public_names() -> dict[str, list[str]]:
    """Every public module's public names, in reference order."""
    return {module: module_names(module) for _, _, modules in PAGES for module in modules}


def facade() -> dict[str, str]:
    """Each `pgjax.<name>` and the public path it is documented under."""
    import pgjax

    documented = {}
    for module, names in public_names().items():
        for name in names:
            documented.setdefault(id(getattr(importlib.import_module(module), name)), f"{module}.{name}")
    return {name: documented.get(id(getattr(pgjax, name)), "") for name in pgjax.__all__
            if not isinstance(getattr(pgjax, name), types.ModuleType)}


def _describe(value) -> str:
    """A data constant's description, from its value (a dict or a sequence lists its entries)."""
    if isinstance(value, dict):
        return f"A dict, keyed by {', '.join(f'``{key}``' for key in value)}."
    if isinstance(value, (tuple, list, frozenset, set)):
        return f"A {type(value).__name__} of {', '.join(f'``{item}``' for item in value)}."
    return f"A ``{type(value).__name__}``."


def _directive(module_name: str, name: str, seen: dict[int, str]) -> str:
    obj = getattr(importlib.import_module(module_name), name)
    path = f"{module_name}.{name}"
    if not (inspect.isclass(obj) or callable(obj)):
        return f".. py:data:: {name}\n\n   {_describe(obj)}\n"
    role = "class" if inspect.isclass(obj) else "func"
    if id(obj) in seen:  # one object, several public paths: documented once, linked from the rest
        return f"``{name}``: the same {'class' if role == 'class' else 'function'} as :py:{role}:`{seen[id(obj)]}`.\n"
    seen[id(obj)] = path
    return f".. auto{'class' if role == 'class' else 'function'}:: {path}\n"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def config_table(config_cls) -> list[str]:
    """A `Config`'s fields as a Markdown table: default, static or traced, the rule checked, meaning."""
    rows = ["| field | default | kind | rule | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, spec in config_cls.field_specs().items():
        kind = "traced" if spec.metadata.get("pytree_node", True) else "static"
        rule = getattr(spec.metadata.get("rule"), "text", "")
        rows.append(f"| `{name}` | `{_cell(repr(spec.default))}` | {kind} | {_cell(rule)} | {_cell(spec.metadata.get('doc', ''))} |")
    return rows


def _page(title: str, modules: tuple[str, ...], seen: dict[int, str]) -> str:
    out = [f"# {title}", ""]
    for module_name in modules:
        out += [f"## `{module_name}`", "", "```{eval-rst}", f".. automodule:: {module_name}", "   :no-members:", ""]
        out += [_directive(module_name, name, seen) for name in module_names(module_name)]
        out += ["```", ""]
        config = getattr(importlib.import_module(module_name), "Config", None)
        if config is not None and hasattr(config, "field_specs"):
            out += [f"### `{module_name.rsplit('.', 1)[-1]}.Config` fields", "",
                    "Static fields fix shapes or the program's structure (a new value compiles a new program); "
                    "traced fields are pytree leaves, so `jax.vmap` can sweep them in one program. Every rule is "
                    "checked when the config is built.", ""] + config_table(config) + [""]
    return "\n".join(out)


def generate(docs: pathlib.Path = DOCS) -> None:
    folder = docs / "api"
    folder.mkdir(exist_ok=True)
    seen: dict[int, str] = {}
    for page, title, modules in PAGES:
        (folder / f"{page}.md").write_text(_page(title, modules, seen))
    rows = "\n".join(f"| `pgjax.{name}` | {{py:obj}}`{path}` |" for name, path in sorted(facade().items()))
    (folder / "index.md").write_text(
        "# API reference\n\nGenerated from the docstrings of every public name. The `pgjax` package "
        "re-exports the names most code needs; each is documented where it is defined:\n\n"
        "| `import pgjax` | documented as |\n| --- | --- |\n" + rows + "\n\n```{toctree}\n:maxdepth: 1\n\n"
        + "\n".join(page for page, _, _ in PAGES) + "\n```\n")


def setup(app):
    app.connect("builder-inited", lambda app: generate(pathlib.Path(app.srcdir)))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
