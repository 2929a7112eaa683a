"""Investigations that recorded a decision (see `studies/README.md`). A study may import
`benchmarks/` (its timing and reporting helpers, its peers); `benchmarks/` never imports a study."""

from pathlib import Path

# Where every study writes its `.md` (and `.png`): `common.write_section(name, markdown, STUDY_DIR)`.
STUDY_DIR = Path(__file__).resolve().parent
