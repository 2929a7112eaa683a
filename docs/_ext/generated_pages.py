"""Results and studies pages, generated at build time from the files the benchmarks and studies write.

Each benchmark script writes its own Markdown table and figure (`benchmarks/presets.md`,
`benchmarks/presets.png`, ...), with the date, the machine and the versions it ran on. This
extension turns each such file into a page of the site, adding the command that makes it and
rewriting its links, so that a figure lives once (in the file its script writes) and the site
cannot drift from it. The pages are written to `docs/results/` and `docs/studies/` under
names listed in `RESULTS` and `STUDIES` (git-ignored); the hand-written `index.md` of each
folder is never touched.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import shutil

DOCS = pathlib.Path(__file__).resolve().parent.parent
ROOT = DOCS.parent


@dataclasses.dataclass(frozen=True)
class Page:
    """One generated page: `source` (relative to the repository root) becomes `<folder>/<name>.md`."""

    name: str
    title: str
    source: str
    command: str
    figures: tuple[str, ...] = ()  # figures beside the source that its text names but does not show
    section: str | None = None  # the `<a id=...>` section of a file that holds several


RESULTS = (
    Page("presets", "Presets on unseen seeds", "benchmarks/presets.md",
         "python -m benchmarks.presets", figures=("presets.png",)),
    Page("family", "The family at equal budgets", "benchmarks/family.md", "python -m benchmarks.family"),
    Page("memory", "Policies with memory", "benchmarks/memory.md", "python -m benchmarks.memory",
         figures=("memory.png",)),
    Page("minatar", "MinAtar: MLP and conv torso", "benchmarks/minatar.md", "python -m benchmarks.minatar"),
    Page("tokens", "Token tasks", "benchmarks/token_algorithms.md", "python -m benchmarks.token_algorithms"),
    Page("peers", "Speed against peers", "benchmarks/peers.md", "python -m benchmarks.peers"),
    Page("time_to_result", "Time to result", "benchmarks/time_to_result.md", "python -m benchmarks.time_to_result"),
    Page("speed", "Where the time goes", "benchmarks/README.md", "python -m benchmarks.run_all"),
    Page("ppo_throughput", "PPO throughput", "benchmarks/ppo_throughput.md", "python -m benchmarks.ppo_throughput"),
    Page("ceiling", "Environment ceiling", "benchmarks/ceiling.md", "python -m benchmarks.ceiling"),
    Page("sb3_peer", "Against Stable-Baselines3", "benchmarks/sb3_peer.md", "python -m benchmarks.sb3_peer"),
    Page("scaling", "Scaling with environments and seeds", "benchmarks/scaling.md", "python -m benchmarks.scaling"),
    Page("sweep_scaling", "Sweep scaling", "benchmarks/sweep_scaling.md", "python -m benchmarks.sweep_scaling"),
    Page("multiprocess", "Several processes", "benchmarks/multiprocess.md", "python -m benchmarks.multiprocess"),
)

STUDIES = (
    Page("profile_iteration", "Profile of one PPO iteration", "studies/profile_iteration.md",
         "python -m studies.profile_iteration"),
    Page("kernel_profile", "Kernels per iteration", "studies/kernel_profile.md", "python -m studies.kernel_profile"),
    Page("arithmetic_limit", "Distance from the arithmetic limit", "studies/arithmetic_limit.md",
         "python -m studies.arithmetic_limit"),
    Page("progress_cost", "What the progress bar costs", "studies/progress_cost.md", "python -m studies.progress_cost"),
    Page("token_generation", "Token generation and replay", "studies/token_generation.md",
         "python -m studies.token_generation"),
    Page("cartpole_failures_ppo_kl", "How PPO-KL's failing seeds fail", "studies/cartpole_failures_ppo_kl.md",
         "python -m studies.cartpole_failures --algo ppo_kl"),
    Page("cartpole_failures_ppo_kl_before", "PPO-KL's failing seeds, before the fix",
         "studies/cartpole_failures_ppo_kl_before.md", "python -m studies.cartpole_failures --algo ppo_kl"),
    Page("cartpole_failures_trpo", "How TRPO's failing seeds fail", "studies/cartpole_failures_trpo.md",
         "python -m studies.cartpole_failures --algo trpo"),
    Page("exploration_odds", "Exploration odds in Mountain Car", "studies/exploration_odds.md",
         "python -m studies.exploration_odds"),
    Page("compile_time", "Compile time, piece by piece", "studies/compile_time.md", "python -m studies.compile_time"),
    Page("layout_speed", "Speed before and after the layout change", "studies/layout_speed.md",
         "python -m studies.layout_speed"),
    Page("fingerprint_layout", "Fingerprint of the layout change", "studies/fingerprint_layout.txt",
         "python -m studies.fingerprint"),
)

# A link in a source file, as the page that now holds it sees it.
_LINKS = {
    **{f"benchmarks/{pathlib.Path(p.source).name}": f"../results/{p.name}.md" for p in RESULTS},
    **{f"studies/{pathlib.Path(p.source).name}": f"../studies/{p.name}.md" for p in STUDIES},
    "studies/README.md": "../studies/index.md",
}
_SECTION_LINKS = {"ppo_throughput", "ceiling", "sb3_peer", "scaling", "sweep_scaling"}


def _decisions() -> dict[str, str]:
    """What each study decided, from the table in `studies/README.md` (study file -> text)."""
    decided = {}
    for line in (ROOT / "studies/README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.match(r"\[[^\]]+\]\(([^)]+)\)", cells[0]) if len(cells) == 4 else None
        if match:
            decided[match.group(1)] = cells[2]
    return decided


def _rewrite_links(text: str, source_folder: str) -> str:
    def link(match: re.Match) -> str:
        label, target = match.group(1), match.group(2)
        if target.startswith(("http://", "https://")):
            return match.group(0)
        if target.startswith("#") and target[1:] in _SECTION_LINKS:
            return f"[{label}]({target[1:]}.md)"
        resolved = (pathlib.PurePosixPath(source_folder) / target).as_posix()
        resolved = re.sub(r"[^/]+/\.\./", "", resolved)
        if resolved in _LINKS:
            return f"[{label}]({_LINKS[resolved]})"
        if resolved.endswith(".png"):
            return f"[{label}](img/{pathlib.PurePosixPath(resolved).name})"
        return f"{label} (`{resolved}`)"  # a source file: named, not linked

    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", link, text)


def _body(page: Page, text: str, folder: str) -> str:
    source_folder = str(pathlib.PurePosixPath(page.source).parent)
    if page.source.endswith(".txt"):
        return f"```text\n{text.rstrip()}\n```\n"
    if page.name == "speed":  # the run's header and summary; each section has its own page
        text = text.split('<a id="', 1)[0]
    text = re.sub(r'<a id="[^"]*"></a>\n', "", text)
    # Images: copied beside the page, shown from there.
    text = re.sub(r"!\[([^\]]*)\]\(([^)]+\.png)\)", lambda m: f"![{m.group(1)}](img/{pathlib.Path(m.group(2)).name})", text)
    text = _rewrite_links(text, source_folder)
    # The page's own title replaces the file's; its other headings move down one level at most.
    lines = text.splitlines()
    if lines and lines[0].startswith("#"):
        lines = lines[1:]
    out = []
    for line in lines:
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            line = "#" * max(level, 2) + line[level:]
        out.append(line)
    shown = set(re.findall(r"img/([^)]+\.png)", "\n".join(out)))
    for figure in page.figures:
        if figure not in shown:
            out += ["", f"![{page.title}](img/{figure})"]
    return "\n".join(out).strip() + "\n"


def _images(page: Page) -> list[pathlib.Path]:
    source = ROOT / page.source
    text = source.read_text()
    names = set(re.findall(r"([\w.-]+\.png)", text)) | set(page.figures)
    return [source.parent / name for name in sorted(names) if (source.parent / name).exists()]


def render(page: Page, folder: str, decided: str | None = None) -> str:
    """The Markdown of one generated page."""
    source = ROOT / page.source
    head = [f"# {page.title}", "", "```{admonition} Generated page", ":class: note",
            f"Made by `{page.command}` (from the repository root), which writes `{page.source}`; "
            f"this page is built from that file. Date, machine and versions are the file's own.", "```", ""]
    if decided:
        head += ["```{admonition} What was decided", ":class: tip", decided, "```", ""]
    return "\n".join(head) + _body(page, source.read_text(), folder)


def generate(docs: pathlib.Path = DOCS) -> list[pathlib.Path]:
    """Write every generated page (and copy its figures); returns the pages written."""
    decisions = _decisions()
    written = []
    for folder, pages in (("results", RESULTS), ("studies", STUDIES)):
        img = docs / folder / "img"
        img.mkdir(parents=True, exist_ok=True)
        for page in pages:
            decided = decisions.get(pathlib.Path(page.source).name) if folder == "studies" else None
            target = docs / folder / f"{page.name}.md"
            target.write_text(render(page, folder, decided))
            written.append(target)
            for image in _images(page):
                shutil.copyfile(image, img / image.name)
    # The studies' index: the table of `studies/README.md`, its links pointing at the pages.
    index = (ROOT / "studies/README.md").read_text().split("\n", 1)[1]
    studies_index = docs / "studies" / "index.md"
    studies_index.write_text("# Studies\n" + _rewrite_links(index, "studies") + _STUDIES_TOC)
    written.append(studies_index)
    return written


_STUDIES_TOC = "\n```{toctree}\n:hidden:\n\n" + "\n".join(p.name for p in STUDIES) + "\n```\n"


def setup(app):
    app.connect("builder-inited", lambda app: generate(pathlib.Path(app.srcdir)))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
