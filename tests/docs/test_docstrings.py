"""Every public name has a docstring of its own (the API reference is generated from them)."""

from __future__ import annotations

import importlib
import inspect
import sys

from tests.docs import pages

sys.path.insert(0, str(pages.DOCS / "_ext"))
import api_pages  # noqa: E402


def own_docstring(obj) -> str | None:
    doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
    if not doc or not doc.strip():
        return None
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):  # a dataclass's generated signature
        return None
    return doc


def test_every_public_name_has_a_docstring():
    missing = []
    for module_name, names in api_pages.public_names().items():
        module = importlib.import_module(module_name)
        if not (module.__doc__ or "").strip():
            missing.append(module_name)
        for name in names:
            obj = getattr(module, name)
            if (inspect.isclass(obj) or callable(obj)) and own_docstring(obj) is None:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"public names without a docstring: {missing}"


def test_the_public_names_cover_the_facade():
    """Every `pgjax.<name>` (but the modules) is documented under some public path."""
    undocumented = [name for name, path in api_pages.facade().items() if not path]
    assert not undocumented, f"pgjax exports names the API reference does not document: {undocumented}"


def test_the_docstring_check_can_fail():
    class Undocumented:
        pass

    def bare():
        pass

    assert own_docstring(Undocumented) is None and own_docstring(bare) is None
