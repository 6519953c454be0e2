"""``python -m xorb_tools.quality.structure``."""

from xorb_tools.quality.structure.cli import main

raise SystemExit(main())
