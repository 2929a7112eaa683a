"""`python -m pgjax.cli ...` runs the `pgjax` command (as `python -m pgjax` does)."""

from pgjax.cli.main import main

raise SystemExit(main())
