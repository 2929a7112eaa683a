"""Every code block of the README and of the documentation's hand-written pages runs as printed.

- ```python blocks run top to bottom, one namespace per page, in a fresh working directory,
  after the page's `<!-- docs-test: "old" -> "new" -->` budget reductions (each must match);
- every `pgjax ...` command in a ```bash block is parsed by the command's own parser and,
  for `train` and `sweep`, its config and grid are built and checked, as the command would
  before training (nothing is trained);
- the tutorial's figure script runs in its quick mode.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from tests.docs import pages

PAGES = pages.pages()
PYTHON_PAGES = [page for page in PAGES if any(block.language == "python" for block in pages.blocks(page))]
SHELL_PAGES = [page for page in PAGES if any(block.language in ("bash", "sh", "shell") for block in pages.blocks(page))]


def test_every_page_is_found():
    found = {pages.page_id(page) for page in PAGES}
    assert {"README", "docs/index", "docs/getting_started", "docs/tutorial/policy_gradients"} <= found


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=pages.page_id)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    replacements = pages.substitutions(page)
    used = set()
    namespace = {"__name__": "__docs__"}
    for block in pages.blocks(page):
        if block.language != "python":
            continue
        code = block.code
        for old, new in replacements:
            if old in code:
                code, _ = code.replace(old, new), used.add(old)
        # Line numbers in a traceback are the page's.
        exec(compile("\n" * (block.line - 1) + code, str(page), "exec", dont_inherit=True), namespace)
    stale = [old for old, _ in replacements if old not in used]
    assert not stale, f"{pages.page_id(page)}: docs-test substitutions that match no code: {stale}"


def pgjax_commands(code: str) -> list[list[str]]:
    """The `pgjax ...` commands of a shell block (continuations joined, `&&`/`;`/`|` split)."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        command: list[str] = []
        for token in list(lexer) + [";"]:
            if token and set(token) <= set(";&|"):
                if command and command[0].rsplit("/", 1)[-1] == "pgjax":
                    commands.append(command[1:])
                command = []
            else:
                command.append(token)
    return commands


def check_command(argv: list[str]) -> None:
    """What `pgjax` checks before it trains: the arguments, the config, the grid."""
    from pgjax.algorithms import ALGORITHMS
    from pgjax.cli import arguments
    from pgjax.cli.main import build_parser
    from pgjax.runs import parse_grid, validate_grid

    args = build_parser().parse_args(argv)
    if args.command in ("train", "sweep") and getattr(args, "resume", None) is None:
        algorithm, env = arguments.resolve_algorithm_and_env(args.algorithm, args.env)
        config = arguments.make_config(ALGORITHMS[algorithm], env, args)
        if args.command == "sweep":
            validate_grid(config, parse_grid(args.grid))


@pytest.mark.parametrize("page", SHELL_PAGES, ids=pages.page_id)
def test_pgjax_commands_parse(page):
    commands = [command for block in pages.blocks(page) if block.language in ("bash", "sh", "shell")
                for command in pgjax_commands(block.code)]
    for argv in commands:
        try:
            check_command(argv)
        except BaseException as error:  # UsageError, or argparse's SystemExit
            raise AssertionError(f"{pages.page_id(page)}: `pgjax {shlex.join(argv)}` is refused: {error!r}") from None


def test_command_check_can_fail():
    from pgjax.cli.errors import UsageError

    assert pgjax_commands("pgjax train ppo CartPole-v1 --seeds 2 && echo x  # pgjax list") == [
        ["train", "ppo", "CartPole-v1", "--seeds", "2"]]
    with pytest.raises(UsageError, match="learning_rte"):
        check_command(["train", "ppo", "CartPole-v1", "--set", "learning_rte=1e-3"])


def test_tutorial_figures_script_runs_quick(tmp_path):
    script = pages.DOCS / "tutorial" / "figures.py"
    if not script.exists():
        pytest.fail("docs/tutorial/figures.py is missing")
    subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)], check=True, cwd=pages.ROOT,
                   timeout=300)
    assert {path.suffix for path in tmp_path.iterdir()} >= {".png", ".json"}
