"""The README's code example runs as printed and learns."""

import pathlib
import re

README = pathlib.Path(__file__).parent.parent / "README.md"


def _python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_building_block_example_runs_and_learns(capsys):
    namespace: dict = {}
    exec(compile(_python_block_after("## Using the building blocks"), "README.md", "exec"), namespace)
    assert float(namespace["mean_return"]) > 300
    assert "mean return of the last episodes" in capsys.readouterr().out
