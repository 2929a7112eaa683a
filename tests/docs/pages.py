"""The documentation's hand-written pages and their code blocks, as the docs tests read them."""

from __future__ import annotations

import dataclasses
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Written at build time by docs/_ext (from the benchmarks, the studies and the docstrings).
GENERATED = ("api", "results/img", "studies", "_build")
GENERATED_RESULTS = re.compile(r"^results/(?!index\.md$)[^/]+\.md$")

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")
_SUBSTITUTION = re.compile(r'<!--\s*docs-test:\s*"((?:[^"\\]|\\.)*)"\s*->\s*"((?:[^"\\]|\\.)*)"\s*-->')


@dataclasses.dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int  # 1-based line of the block's first code line in its page


def pages() -> list[pathlib.Path]:
    """README.md and every hand-written Markdown page under docs/."""
    found = [ROOT / "README.md"]
    for path in sorted(DOCS.rglob("*.md")):
        relative = path.relative_to(DOCS).as_posix()
        if relative.startswith(GENERATED) or GENERATED_RESULTS.match(relative):
            continue
        found.append(path)
    return found


def page_id(path: pathlib.Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix()


def blocks(path: pathlib.Path) -> list[Block]:
    """The fenced code blocks of a page, in order (MyST directives such as ```{toctree} excluded)."""
    found, lines, i = [], path.read_text().splitlines(), 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, language = match.groups()
        start, i = i + 1, i + 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            i += 1
        body = [line[len(indent):] if line.startswith(indent) else line for line in lines[start:i]]
        if not language.startswith("{"):
            found.append(Block(language.lower(), "\n".join(body) + "\n", start + 1))
        i += 1
    return found


def substitutions(path: pathlib.Path) -> list[tuple[str, str]]:
    """The page's `<!-- docs-test: "old" -> "new" -->` budget reductions for the test run."""
    unescape = lambda text: text.replace('\\"', '"')  # noqa: E731
    return [(unescape(old), unescape(new)) for old, new in _SUBSTITUTION.findall(path.read_text())]


def python_block_after(heading: str, path: pathlib.Path = ROOT / "README.md") -> str:
    """The first ```python block after `heading` in `path`, as printed."""
    text = path.read_text()
    return re.search(r"```python\n(.*?)```", text[text.index(heading):], re.S).group(1)
