"""`python -m pgjax ...` runs the `pgjax` command."""

from pgjax.cli import main

raise SystemExit(main())
