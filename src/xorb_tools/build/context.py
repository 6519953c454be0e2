"""The build context as BuildKit sees it, and one digest of it.

The context is the project root filtered by ``<Dockerfile>.dockerignore`` when that file
exists, else by the root ``.dockerignore`` (BuildKit's rule). The pattern matching is the
docker SDK's own implementation of the ``.dockerignore`` syntax (``docker.utils.build``),
so no second copy of those rules lives here.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from docker.utils.build import exclude_paths


def ignore_file(root: Path, dockerfile: Path) -> Path | None:
    """The ignore file BuildKit applies for ``dockerfile`` (relative to ``root``)."""
    for candidate in (root / f"{dockerfile}.dockerignore", root / ".dockerignore"):
        if candidate.is_file():
            return candidate
    return None


def patterns(root: Path, dockerfile: Path) -> list[str]:
    """The ignore patterns, without comments and blank lines."""
    path = ignore_file(root, dockerfile)
    if path is None:
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def files(root: Path, dockerfile: Path) -> list[str]:
    """Relative paths of the regular files and symlinks the context sends, sorted."""
    kept = exclude_paths(str(root), patterns(root, dockerfile), dockerfile=str(dockerfile))
    return sorted(p for p in kept if not (root / p).is_dir() or (root / p).is_symlink())


def digest(root: Path, dockerfile: Path) -> str:
    """sha256 over every context file's path, mode and content (or symlink target)."""
    h = hashlib.sha256()
    for rel in files(root, dockerfile):
        path = root / rel
        st = path.lstat()
        h.update(f"{rel}\0{stat.S_IMODE(st.st_mode):o}\0".encode())
        if stat.S_ISLNK(st.st_mode):
            h.update(str(path.readlink()).encode())
        else:
            h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
