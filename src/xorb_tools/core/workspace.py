"""Scratch copies of the repository, for work that must change files without touching the
checkout (benchmarks, engine tests)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from xorb_tools.core.errors import XorbError


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


def _topmost_missing(path: Path) -> Path | None:
    """The highest folder of ``path`` (itself or an ancestor) that does not exist yet."""
    if path.exists():
        return None
    top = path
    for parent in path.parents:
        if parent.exists():
            break
        top = parent
    return top


@contextlib.contextmanager
def undone_on_failure(*paths: Path) -> Iterator[None]:
    """Folders the block may create, removed again (with what went in them, and the parent
    folders made for them) when the block fails. What was already there is never touched.
    """
    new = {top for p in paths if (top := _topmost_missing(p)) is not None}
    try:
        yield
    except BaseException:
        for path in new:
            shutil.rmtree(path, ignore_errors=True)
        raise
