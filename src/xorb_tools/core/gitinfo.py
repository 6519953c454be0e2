"""Revision, commit time and version validation for image tags and OCI labels."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class GitInfo:
    """What the images are built from."""

    revision: str
    short: str
    epoch: int
    dirty: bool

    @property
    def created(self) -> str:
        """The commit time as RFC 3339 (used for ``created``: reproducible per commit)."""
        return datetime.fromtimestamp(self.epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def read(root: Path) -> GitInfo:
    """The checkout's revision; outside git, ``unknown`` with epoch 0."""
    revision = _git(root, "rev-parse", "HEAD")
    if not revision:
        return GitInfo("unknown", "unknown", 0, dirty=False)
    epoch = int(_git(root, "log", "-1", "--format=%ct") or 0)
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    return GitInfo(revision, revision[:12], epoch, dirty)


def release_commit(root: Path, version: str) -> str:
    """The commit release ``version`` was built from: its git tag's (``V`` or ``vV``), else
    the checkout's HEAD (a release not tagged yet)."""
    for name in (version, f"v{version}"):
        commit = _git(root, "rev-parse", "--verify", "--quiet", f"refs/tags/{name}^{{commit}}")
        if commit:
            return commit
    return read(root).revision
