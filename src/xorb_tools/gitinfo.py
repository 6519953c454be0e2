"""Revision, commit time and version validation for image tags and OCI labels."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from xorb_tools.errors import XorbError

# semver 2.0 with an optional leading "v"
SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
# A git ref name that is also a valid Docker tag (the stricter of the two rules).
GIT_REF_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


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


def validate_version(version: str) -> str:
    """Return ``version`` when it is semver or a git-ref-like tag, else fail in one sentence."""
    if SEMVER.match(version):
        return version
    if GIT_REF_TAG.match(version) and ".." not in version and not version.endswith(".lock"):
        return version
    raise XorbError(
        f"Invalid version {version!r}: use semver (1.2.3, v1.2.3-rc.1) or a git ref name "
        "made of letters, digits, '.', '_' and '-' (at most 128 characters)."
    )
