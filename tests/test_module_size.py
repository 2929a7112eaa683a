"""No module of the package over 400 lines, unless its docstring says why.

A module a newcomer reads should fit in one sitting; one that cannot be cut holds, in its
docstring, a line that starts with "Over 400 lines:" and gives the reason.
"""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "pgjax"
LIMIT = 400
EXCUSE = "Over 400 lines:"


def oversized(package: pathlib.Path) -> list[str]:
    """`path: N lines` for every module longer than `LIMIT` without the excuse in its docstring."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        lines = len(text.splitlines())
        if lines <= LIMIT:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.strip().startswith(EXCUSE) for line in docstring.splitlines()):
            problems.append(f"{path.relative_to(package.parent)}: {lines} lines")
    return problems


def test_no_module_is_over_400_lines_without_a_reason():
    problems = oversized(PACKAGE)
    assert not problems, (f"modules over {LIMIT} lines whose docstring has no line starting with {EXCUSE!r}:\n"
                          + "\n".join(problems))


def test_the_check_fails_on_a_long_module_and_accepts_a_reason(tmp_path):
    package = tmp_path / "pgjax"
    package.mkdir()
    body = "x = 1\n" * LIMIT
    (package / "short.py").write_text('"""Short."""\n' + "x = 1\n" * (LIMIT - 1))  # exactly 400 lines
    (package / "long.py").write_text('"""Long, and says nothing."""\n' + body)
    (package / "excused.py").write_text('"""Long.\n\nOver 400 lines: one table that reads best whole.\n"""\n' + body)
    (package / "mention.py").write_text('"""Mentions it mid-line: not Over 400 lines: a reason."""\n' + body)
    assert oversized(package) == [f"pgjax/long.py: {LIMIT + 1} lines", f"pgjax/mention.py: {LIMIT + 1} lines"]
