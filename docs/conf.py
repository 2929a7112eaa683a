"""Sphinx configuration for the pgjax documentation.

Sphinx with MyST, as JAX, Flax and Optax use: pages are Markdown, the API reference comes from
the docstrings (autodoc, autosummary), and `-W` turns every warning into an error. The results
and studies pages are generated at build time from the benchmarks' and studies' own outputs
(`docs/_ext/generated_pages.py`), so no figure is copied by hand.
"""

from __future__ import annotations

import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import pgjax  # noqa: E402

project = "pgjax"
author = "the pgjax developers"
copyright = "2026, the pgjax developers"
release = pgjax.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "generated_pages",
    "api_pages",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "**/_build", "README.md"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# Docstrings are written with `code` in single backticks, as in the Markdown pages.
default_role = "literal"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": False}
autosummary_generate = False

html_theme = "furo"
html_title = f"pgjax {release}"
html_static_path = ["_static"]
html_css_files = ["pgjax.css"]
html_theme_options = {"navigation_with_keys": True}

# Every warning is an error under `sphinx-build -W`; nitpicky would also demand a target for
# every type in every signature (jax.Array, chex.Array, ...), which the JAX projects do not.
nitpicky = False
suppress_warnings = ["myst.header"]

# Docstrings write formulas one per line ("r = exp(...)" above "L = −mean(...)"). Read as
# reStructuredText, such lines would run together into one sentence, so a paragraph made only
# of lines of the form "lhs = ..." (or "lhs ← ...") is shown as a literal block, as written.
_FORMULA = re.compile(r"^\s*[^\s`][^`]{0,30}?\s(=|←)\s")


def _formulas_as_blocks(app, what, name, obj, options, lines):
    out, paragraph = [], []

    def flush():
        if paragraph and all(_FORMULA.match(line) for line in paragraph) and not paragraph[0].lstrip().startswith(("-", "*")):
            indent = min(len(line) - len(line.lstrip()) for line in paragraph)
            out.extend([".. code-block:: text", ""] + ["   " + line[indent:] for line in paragraph] + [""])
        else:
            out.extend(paragraph)
        paragraph.clear()

    previous_ends_block = False
    for line in lines:
        if line.strip():
            if not paragraph and previous_ends_block:  # the body of a "::" literal block stays as it is
                out.append(line)
                continue
            paragraph.append(line)
        else:
            previous_ends_block = bool(paragraph) and paragraph[-1].rstrip().endswith("::") or (
                previous_ends_block and not paragraph)
            flush()
            out.append(line)
    flush()
    lines[:] = out


def setup(app):
    app.connect("autodoc-process-docstring", _formulas_as_blocks)
