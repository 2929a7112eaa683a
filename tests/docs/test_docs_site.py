"""The documentation site builds with warnings as errors, and every internal link and image of
the built site and of the README resolves."""

from __future__ import annotations

import html.parser
import pathlib
import re
import subprocess
import sys
import urllib.parse

import pytest

from tests.docs import pages


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(pages.DOCS), str(out),
         "-d", str(out / ".doctrees")],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, f"sphinx-build -W failed:\n{build.stderr[-6000:]}"
    return out


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name) and not (tag == "link" and name == "href" and attrs.get("rel") == "canonical"):
                self.targets.append(attrs[name])


def _parse(path: pathlib.Path) -> _Links:
    links = _Links()
    links.feed(path.read_text(errors="replace"))
    return links


def test_every_internal_link_and_image_of_the_site_resolves(site):
    parsed = {path: _parse(path) for path in site.rglob("*.html")}
    broken = []
    for path, links in parsed.items():
        for target in links.targets:
            url = urllib.parse.urlparse(target)
            if url.scheme or target.startswith(("//", "mailto:")):
                continue
            file = (path.parent / urllib.parse.unquote(url.path)).resolve() if url.path else path
            if not file.exists():
                broken.append(f"{path.relative_to(site)} -> {target}")
            elif url.fragment and file.suffix == ".html":
                ids = (parsed.get(file) or _parse(file)).ids
                if urllib.parse.unquote(url.fragment) not in ids:
                    broken.append(f"{path.relative_to(site)} -> {target} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)
    # The pages a reader starts from are there.
    for page in ("index", "getting_started", "tutorial/policy_gradients", "guides/index", "results/index",
                 "results/presets", "studies/index", "api/index"):
        assert (site / f"{page}.html").exists(), page


def test_every_public_name_is_in_the_api_reference(site):
    sys.path.insert(0, str(pages.DOCS / "_ext"))
    import api_pages

    text = "".join(path.read_text() for path in (site / "api").glob("*.html"))
    missing = [f"{module}.{name}" for module, names in api_pages.public_names().items() for name in names
               if f'id="{module}.{name}"' not in text and f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{name}</span></code>: the same" not in text]
    assert not missing, f"public names missing from the API reference: {missing}"


def test_the_readme_links_resolve():
    text = (pages.ROOT / "README.md").read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text):
        url = urllib.parse.urlparse(target)
        if url.scheme or target.startswith("#"):
            continue
        if not (pages.ROOT / urllib.parse.unquote(url.path)).exists():
            broken.append(target)
    assert not broken, f"README links to missing files: {broken}"


def test_the_readme_is_short():
    assert len((pages.ROOT / "README.md").read_text().splitlines()) <= 250
