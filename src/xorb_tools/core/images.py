"""Facts about local images: sizes (stating the measure), layers, labels.

Under the containerd image store ``docker image inspect``'s ``Size`` is the *compressed*
content size; the uncompressed size is the sum of the unpacked layer sizes that
``docker history`` reports. python-on-whales has no per-layer history call, so this module
uses the Docker SDK for that one query.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import docker
from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError

MB = 1_000_000


@dataclass(frozen=True)
class Layer:
    """One history entry: the instruction that made it and its unpacked size."""

    created_by: str
    size_bytes: int


@functools.cache
def _sdk() -> docker.DockerClient:
    for noisy in ("docker", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return docker.from_env()
    except docker.errors.DockerException:
        raise XorbError(f"No Docker daemon answers: {engine.START_HINT}.") from None


def layers(ref: str) -> list[Layer]:
    """The image's history, base first (empty-size metadata entries included)."""
    try:
        history: list[dict[str, Any]] = _sdk().api.history(ref)
    except docker.errors.ImageNotFound:
        raise XorbError(f"Image {ref} does not exist: build it with `uv run inv build`.") from None
    return [Layer(str(h.get("CreatedBy", "")), int(h.get("Size") or 0)) for h in reversed(history)]


def uncompressed_size(ref: str) -> int:
    """Bytes of all unpacked layers (what the image takes on disk, shared layers included)."""
    return sum(layer.size_bytes for layer in layers(ref))


def compressed_size(ref: str) -> int:
    """Bytes of the compressed layers and config (what a registry transfers)."""
    return int(engine.client().image.inspect(ref).size or 0)


def diff_ids(ref: str) -> list[str]:
    """The layer digests (rootfs diff ids), base first."""
    return [str(d) for d in (engine.client().image.inspect(ref).root_fs.layers or [])]


def labels(ref: str) -> dict[str, str]:
    """The image's labels."""
    config = engine.client().image.inspect(ref).config
    return dict(config.labels or {})


def inspect_raw(ref: str) -> dict[str, Any]:
    """The engine's own ``docker image inspect`` document (config, env, labels, ...)."""
    try:
        data: dict[str, Any] = _sdk().api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        raise XorbError(f"Image {ref} does not exist: build it with `uv run inv build`.") from None
    return data


def history_raw(ref: str) -> list[dict[str, Any]]:
    """The engine's own ``docker history`` entries (instructions, comments, sizes)."""
    entries: list[dict[str, Any]] = _sdk().api.history(ref)
    return entries


def push(local: str, remote: str) -> str:
    """Tag ``local`` as ``remote`` (``host/repo:tag``), push it and return the manifest
    digest the registry holds (``sha256:...``); one sentence when the push fails."""
    client = engine.client()
    with engine.docker_errors(f"Pushing {remote}"):
        client.image.tag(local, remote)
        client.image.push(remote, quiet=True)
        digests = client.image.inspect(remote).repo_digests or []
    repo = remote.rsplit(":", 1)[0]
    digest = next((d.split("@", 1)[1] for d in digests if d.startswith(f"{repo}@")), "")
    if not digest:
        raise XorbError(f"The registry gave no digest for {remote}: push it again.")
    return digest
