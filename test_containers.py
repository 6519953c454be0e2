"""The guide's `python test_containers.py`: the XORB container test suite (8 categories).

A thin entry point (run it with the project's environment: ``uv run python
test_containers.py``); the suite lives in ``xorb_tools.structure``, which is also
``nox -s structure``. Options pass through: ``--service``, ``--image-tag``, ``--budget``,
``--skip-build`` (``--help`` lists them).
"""

from __future__ import annotations

from xorb_tools.structure import main

if __name__ == "__main__":
    raise SystemExit(main())
