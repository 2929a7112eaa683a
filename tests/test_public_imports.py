"""The code outside the package that uses it as a user would (`benchmarks/`, `studies/`,
`tests/learning/`) imports only names that `pgjax` or one of its subpackages exports.

Every `import` and `from ... import` is read with `ast`, those inside functions included:

- `from pgjax import name`: `name` is in `pgjax.__all__` or its lazy export table, or is a
  subpackage (`from pgjax import networks` is `import pgjax.networks`);
- `from pgjax.<sub> import name`: `<sub>` is one of `SUBPACKAGES` and `name` is in its `__all__`;
  `from pgjax.<module> import ...` of any other module is refused, whatever the name;
- `import pgjax.<sub>` of a subpackage; `import pgjax.<sub>.<name>` only where `<name>` is a
  module that `<sub>` exports.

And `benchmarks/` never imports `studies/` (studies may import benchmarks, not the reverse).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pgjax

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("benchmarks", "studies", "tests/learning")  # tests/learning may not exist yet
SUBPACKAGES = ("envs", "networks", "algorithms", "report", "runs", "cli")


def exported(module: str) -> set[str]:
    """The public names of `pgjax` or of one of its subpackages."""
    if module == "pgjax":
        return set(pgjax.__all__) | set(pgjax._EXPORTS) | set(SUBPACKAGES)
    return set(getattr(importlib.import_module(module), "__all__", ()))


def private_imports(source: str) -> list[tuple[int, str]]:
    """`(line, what is wrong)` for every import in `source` of a name pgjax does not export."""
    public_modules = {"pgjax", *(f"pgjax.{sub}" for sub in SUBPACKAGES)}
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] == "pgjax":
            for alias in node.names:
                if node.module not in public_modules:
                    problems.append((node.lineno, f"from {node.module} import {alias.name}: {node.module} is not "
                                                  "pgjax or one of its subpackages " + ", ".join(SUBPACKAGES)))
                elif alias.name != "*" and alias.name not in exported(node.module):
                    problems.append((node.lineno, f"from {node.module} import {alias.name}: "
                                                  f"{alias.name} is not in {node.module}.__all__"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] != "pgjax" or len(parts) == 1:
                    continue
                if parts[1] not in SUBPACKAGES:
                    problems.append((node.lineno, f"import {alias.name}: not a subpackage of pgjax"))
                elif len(parts) > 3 or (len(parts) == 3 and parts[2] not in exported(".".join(parts[:2]))):
                    problems.append((node.lineno, f"import {alias.name}: not a module that "
                                                  f"{'.'.join(parts[:2])} exports"))
    return sorted(problems)


def _sources(folder: Path):
    """The `.py` files under `folder`, leaving out hidden folders (the peers' own venvs under
    `benchmarks/.peer_venvs` hold other projects' code)."""
    return (path for path in folder.rglob("*.py") if not any(part.startswith(".") for part in path.relative_to(folder).parts))


def python_files() -> list[Path]:
    return sorted(path for folder in FOLDERS if (ROOT / folder).is_dir() for path in _sources(ROOT / folder))


def test_benchmarks_studies_and_learning_tests_import_only_exported_names():
    files = python_files()
    assert any(path.parts[-2] == "benchmarks" for path in files) and any(p.parts[-2] == "studies" for p in files)
    problems = [f"{path.relative_to(ROOT)}:{line}: {what}"
                for path in files for line, what in private_imports(path.read_text())]
    assert not problems, "imports of names pgjax does not export:\n" + "\n".join(problems)


def test_benchmarks_never_import_studies():
    problems = []
    for path in sorted(_sources(ROOT / "benchmarks")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            problems += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names
                         if name.split(".")[0] == "studies"]
    assert not problems, "benchmarks/ imports studies/:\n" + "\n".join(problems)


def test_the_check_refuses_private_modules_and_unexported_names():
    source = """
import pgjax
import pgjax.algorithms
import pgjax.envs.tokens
import pgjax.runs.driver
import pgjax.losses
from pgjax import ppo, gae, networks, not_a_name
from pgjax.algorithms import ppo, not_exported
from pgjax.algorithms.build import build

def late():
    from pgjax.report.sinks import make_sink
"""
    problems = private_imports(source)
    assert [line for line, _ in problems] == [5, 6, 7, 8, 9, 12]
    assert "not_a_name is not in pgjax.__all__" in problems[2][1]
    assert "pgjax.algorithms.build is not pgjax or one of its subpackages" in problems[4][1]
