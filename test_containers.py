"""The guide's `python test_containers.py`: the XORB container test suite (8 categories).

A thin entry point; the suite lives in ``xorb_tools.quality.structure``, which is also
``nox -s structure``. Options pass through: ``--service``, ``--image-tag``, ``--budget``,
``--skip-build`` (``--help`` lists them). Run by a plain interpreter outside the project's
environment, it runs itself again through ``uv run`` (or says what to run instead).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _through_uv() -> None:
    """Run this file again in the project's environment, or say in one line how to."""
    uv = shutil.which("uv")
    if uv is None or os.environ.get("XORB_REEXEC") == "1":
        sys.exit(
            "test_containers.py needs the project's environment: install uv "
            "(`python3 -m pip install uv`), then run `uv run python test_containers.py`."
        )
    os.environ["XORB_REEXEC"] = "1"
    argv = [uv, "run", "--project", str(HERE), "python", str(HERE / "test_containers.py")]
    os.execv(uv, [*argv, *sys.argv[1:]])  # noqa: S606 (argv, no shell: what we want)


if __name__ == "__main__":
    try:
        from xorb_tools.quality.structure import main
    except ModuleNotFoundError:
        _through_uv()
    raise SystemExit(main())
