"""A local cache folder's OCI layout: blobs shared by hard links with the previous export, and
the blobs no index reaches collected."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

_INDEX_TYPES = ("manifest", "index")  # OCI / Docker manifest and index media types


def link_blobs(source: Path, dest: Path) -> int:
    """Hard-link every blob of the OCI layout ``source`` into ``dest`` (copy across devices).

    Only blobs: BuildKit rewrites ``index.json`` in place, which must never reach the old
    cache through a shared inode. Returns the number of blobs linked.
    """
    count = 0
    for blob in (source / "blobs").glob("*/*"):
        target = dest / blob.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(blob, target)
        except OSError:
            shutil.copy2(blob, target)
        count += 1
    return count


def collect_garbage(layout: Path) -> int:
    """Delete the blobs of the OCI layout ``layout`` that its ``index.json`` does not reach.

    Walks index -> manifests -> layers/config; any blob whose media type names a manifest
    or an index is read for its own descriptors. Also removes ``ingest/`` leftovers.
    Returns the bytes freed.
    """
    reachable = set(_reachable(layout))
    freed = 0
    for blob in (layout / "blobs").glob("*/*"):
        if f"{blob.parent.name}:{blob.name}" not in reachable:
            freed += blob.stat().st_size
            blob.unlink()
    shutil.rmtree(layout / "ingest", ignore_errors=True)
    return freed


def _reachable(layout: Path) -> Iterator[str]:
    pending = list(_descriptors(json.loads((layout / "index.json").read_text())))
    seen: set[str] = set()
    while pending:
        desc = pending.pop()
        digest = str(desc.get("digest", ""))
        if not digest or digest in seen:
            continue
        seen.add(digest)
        yield digest
        media = str(desc.get("mediaType", ""))
        path = layout / "blobs" / digest.replace(":", "/", 1)
        if any(t in media for t in _INDEX_TYPES) and path.exists():
            pending.extend(_descriptors(json.loads(path.read_text())))


def _descriptors(document: object) -> Iterator[dict[str, object]]:
    if not isinstance(document, dict):
        return
    for key in ("manifests", "layers"):
        for desc in document.get(key) or []:
            if isinstance(desc, dict):
                yield desc
    config = document.get("config")
    if isinstance(config, dict):
        yield config
