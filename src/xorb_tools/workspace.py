"""Scratch copies of the repository, for work that must change files without touching the
checkout (benchmarks, engine tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from xorb_tools.errors import XorbError


def copy_repo(src: Path, dest: Path) -> Path:
    """Copy the tracked tree plus uncommitted and untracked (not ignored) files."""
    listed = subprocess.run(
        ["git", "-C", str(src), "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        raise XorbError(f"Cannot list the files of {src} (git ls-files failed): run in a clone.")
    for rel in filter(None, listed.stdout.split("\0")):
        path = src / rel
        if path.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return dest
