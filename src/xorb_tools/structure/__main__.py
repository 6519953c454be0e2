"""``python -m xorb_tools.structure``."""

from xorb_tools.structure.cli import main

raise SystemExit(main())
