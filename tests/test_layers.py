"""The package's layers, read from its source: no import cycles, and no import upwards.

DESIGN.md: each layer imports only the layers below it, lazy (function-level) imports
included, so that a reader can learn the package bottom-up. The order:

    blocks (checks, lazy, distributions, advantages, losses, optim, layout, rollout)
      < envs < networks < algorithms < report < runs < cli

Every `import` and `from ... import` in `pgjax/**/*.py` is read with `ast` wherever it
stands (module level, inside functions, under `if`/`try`), relative imports resolved.
`pgjax/__init__.py` is the façade, which may name anything lazily by string: it is not
read, and a module that imports through it (`from pgjax import ppo`) is reported, since the
façade stands above every layer.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "pgjax"

# `checks` (argument checks that raise `ValueError` naming the argument) and `lazy` (names a package
# loads on first use) are used by every layer.
BLOCKS = ("checks", "lazy", "distributions", "advantages", "losses", "preferences", "exact", "optim", "layout", "rollout")
LAYERS = ("blocks", "envs", "networks", "algorithms", "report", "runs", "cli")
FACADE = "pgjax"


def module_names(package: pathlib.Path) -> dict[str, pathlib.Path]:
    """`pgjax.a.b` -> its file, for every module of the package (a package is its `__init__.py`)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def layer_of(module: str) -> str | None:
    """The layer a module belongs to (None: in no layer, which the tests report)."""
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the façade itself
    if parts[1] in BLOCKS and len(parts) == 2:
        return "blocks"
    if parts[1] == "__main__":
        return "cli"  # `python -m pgjax` is the command line
    return parts[1] if parts[1] in LAYERS else None


def facade_names(package: pathlib.Path) -> dict[str, str | None]:
    """What `from pgjax import name` reaches, read from the façade: the defining module of each
    name it exports (its `_EXPORTS` table and its own imports), or None for a name the façade
    defines itself (`__version__`), which depends on nothing."""
    tree = ast.parse((package / "__init__.py").read_text())
    names: dict[str, str | None] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(FACADE + "."):
            names.update({alias.asname or alias.name: node.module for alias in node.names})
        elif isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if targets == ["_EXPORTS"] and isinstance(node.value, ast.Dict):
                names.update({k.value: v.value for k, v in zip(node.value.keys, node.value.values)})
            else:
                names.update({target: None for target in targets})
    return names


def imports_of(module: str, path: pathlib.Path, modules: dict, facade: dict) -> list[tuple[str, int, str]]:
    """`(imported pgjax module, line, statement)` for every import of `module` that lands in
    the package, relative ones resolved. `from X import name` is an import of `X.name` when
    that is a module, else of `X`; `from pgjax import name` one of the module the façade takes
    `name` from (`FACADE` itself for a name it does not know)."""
    source = path.read_text()
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # `from . import x` in a.b.c (a module) or in a.b (a package's __init__) means a.b.
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module
            targets = []
            for alias in node.names:
                if f"{origin}.{alias.name}" in modules:
                    targets.append(f"{origin}.{alias.name}")
                elif origin == FACADE:
                    defined_in = facade.get(alias.name, FACADE)
                    if defined_in is not None:  # None: the façade's own constant
                        targets.append(defined_in)
                else:
                    targets.append(origin)
        else:
            continue
        statement = " ".join((ast.get_source_segment(source, node) or ast.dump(node)).split())
        found += [(target, node.lineno, statement) for target in targets
                  if target == FACADE or target.startswith(FACADE + ".")]
    return found


def import_graph(package: pathlib.Path):
    """`(modules, edges)`: edges maps each module (the façade left out) to its imports."""
    modules = module_names(package)
    facade = facade_names(package)
    edges = {module: imports_of(module, path, modules, facade) for module, path in modules.items() if module != FACADE}
    return modules, edges


def find_cycle(edges: dict[str, list]) -> list[str] | None:
    """One import cycle `[a, b, ..., a]`, or None (depth-first search, colouring the modules)."""
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target, _, _ in edges.get(module, []):
            if target == FACADE or target not in edges:
                continue
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(edges):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def upward_imports(modules: dict, edges: dict, package: pathlib.Path) -> list[str]:
    """Every import of a module from a higher layer, of a module that is not there, or of a
    name the façade does not export, as a sentence naming the file, line and statement."""
    problems = []
    for module, imports in sorted(edges.items()):
        layer = layer_of(module)
        where = modules[module].relative_to(package.parent)
        if layer is None:
            problems.append(f"{where}: {module} is in no layer (add it to tests/test_layers.py's order)")
            continue
        for target, line, statement in imports:
            if target == FACADE:
                problems.append(f"{where}:{line}: `{statement}`: the façade pgjax exports no such name")
            elif target not in modules:
                problems.append(f"{where}:{line}: `{statement}`: there is no module {target}")
            elif layer_of(target) and LAYERS.index(layer_of(target)) > LAYERS.index(layer):
                problems.append(f"{where}:{line}: `{statement}`: {layer} ({module}) imports {layer_of(target)} ({target})")
    return problems


def test_the_package_has_no_import_cycle():
    _, edges = import_graph(PACKAGE)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_from_a_higher_layer():
    modules, edges = import_graph(PACKAGE)
    problems = upward_imports(modules, edges, PACKAGE)
    assert not problems, "imports against the layer order " + " < ".join(LAYERS) + ":\n" + "\n".join(problems)


# ---------------------------------------------------------------- the checks can fail


def write(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        path = root / "pgjax" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pgjax"


@pytest.fixture
def planted(tmp_path):
    """A small package in the same shape: a façade, blocks, envs/ and algorithms/, importing downwards."""
    return write(tmp_path, {
        "__init__.py": '__version__ = "0"\n_EXPORTS = {"ppo": "pgjax.algorithms"}\n',
        "losses.py": "import jax\nfrom pgjax import __version__\n",
        "rollout.py": "from pgjax import losses\nfrom .losses import *\n",
        "envs/__init__.py": "from pgjax.envs.core import make_env\n",
        "envs/core.py": "from pgjax.rollout import rollout\n",
        "algorithms/__init__.py": "from pgjax.algorithms import ppo\n",
        "algorithms/ppo.py": "from pgjax.envs import make_env\nfrom . import build\n",
        "algorithms/build.py": "def f():\n    from pgjax.envs.core import make_env\n",
    })


def graph_of(package):
    modules, edges = import_graph(package)
    return modules, edges, find_cycle(edges), upward_imports(modules, edges, package)


def test_a_clean_package_passes(planted):
    modules, edges, cycle, problems = graph_of(planted)
    assert cycle is None and problems == []
    # Relative and function-level imports are read, `from X import module` lands on the module,
    # and the façade's own constant is no dependency.
    assert [t for t, _, _ in edges["pgjax.algorithms.ppo"]] == ["pgjax.envs", "pgjax.algorithms.build"]
    assert [t for t, _, _ in edges["pgjax.algorithms.build"]] == ["pgjax.envs.core"]
    assert [t for t, _, _ in edges["pgjax.rollout"]] == ["pgjax.losses", "pgjax.losses"]
    assert edges["pgjax.losses"] == []


def test_a_planted_cycle_through_a_lazy_import_is_found(planted):
    (planted / "losses.py").write_text("def f():\n    from .rollout import rollout\n")
    _, _, cycle, _ = graph_of(planted)
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["pgjax.losses", "pgjax.rollout"], cycle


def test_a_planted_upward_import_is_named(planted):
    (planted / "envs" / "core.py").write_text("def make_env():\n    from pgjax.algorithms.build import f\n")
    _, _, _, problems = graph_of(planted)
    assert problems == ["pgjax/envs/core.py:2: `from pgjax.algorithms.build import f`: envs (pgjax.envs.core) "
                        "imports algorithms (pgjax.algorithms.build)"]


def test_imports_through_the_facade_missing_modules_and_modules_in_no_layer_are_named(planted):
    (planted / "envs" / "core.py").write_text("from pgjax import ppo\nfrom pgjax import nothing\n"
                                               "import pgjax.envs.gone\n")
    (planted / "helpers.py").write_text("")
    _, _, _, problems = graph_of(planted)
    assert problems == [
        "pgjax/envs/core.py:1: `from pgjax import ppo`: envs (pgjax.envs.core) imports algorithms (pgjax.algorithms)",
        "pgjax/envs/core.py:2: `from pgjax import nothing`: the façade pgjax exports no such name",
        "pgjax/envs/core.py:3: `import pgjax.envs.gone`: there is no module pgjax.envs.gone",
        "pgjax/helpers.py: pgjax.helpers is in no layer (add it to tests/test_layers.py's order)",
    ]
