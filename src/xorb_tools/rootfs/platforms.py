"""Platforms: the host's architecture, QEMU emulation for the others, and the air-gapped base
as one multi-platform index in a registry (what a ``--platform a,b`` build starts FROM).

A local image is one platform; BuildKit reads a multi-platform base from a registry. So each
architecture's base is built (``mmdebstrap --architectures``; a foreign one runs its package
scripts under QEMU), pushed as ``<base>-<arch>``, and joined into one index with
``docker buildx imagetools create``.
"""

from __future__ import annotations

import platform as host
from collections.abc import Sequence
from pathlib import Path

from xorb_tools.core import engine, images
from xorb_tools.core.errors import XorbError
from xorb_tools.rootfs import base_image

BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_NAMES = {"amd64": "x86_64", "arm64": "aarch64"}
MACHINES = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "amd64": "amd64"}
EMULATION_HINT = "run `bash scripts/provision.sh --qemu` (Debian's qemu-user-static)"


def host_arch() -> str:
    return MACHINES.get(host.machine(), host.machine())


def arch_of(platform: str) -> str:
    """``linux/arm64`` -> ``arm64``; one sentence for anything else than linux/amd64|arm64."""
    os_name, _, rest = platform.partition("/")
    arch = rest.split("/")[0]
    if os_name != "linux" or arch not in QEMU_NAMES:
        raise XorbError(
            f"Unknown platform {platform!r}: choose linux/amd64 or linux/arm64 (comma-separated)."
        )
    return arch


def require_emulation(platforms: Sequence[str]) -> None:
    """Fail in one sentence when a platform needs QEMU and the kernel has no handler."""
    for platform in platforms:
        arch = arch_of(platform)
        if arch == host_arch():
            continue
        handler = BINFMT / f"qemu-{QEMU_NAMES[arch]}"
        try:
            enabled = handler.read_text().startswith("enabled")
        except OSError:
            enabled = False
        if not enabled:
            raise XorbError(
                f"Building for {platform} needs QEMU emulation on this host: {EMULATION_HINT}."
            )


def multi_platform(
    platforms: Sequence[str], local_base: str, registry: str, *, mirror: str | None = None
) -> str:
    """The air-gapped base for every platform as one index, ``<registry>/<local_base>``
    (the caller has checked emulation: :func:`require_emulation`)."""
    repository, _, tag = local_base.rpartition(":")
    sources = []
    for platform in platforms:
        arch = arch_of(platform)
        local = local_base if arch == host_arch() else f"{local_base}-{arch}"
        base_image.build(local, mirror=mirror, arch=None if arch == host_arch() else arch)
        remote = f"{registry}/{repository}:{tag}-{arch}"
        images.push(local, remote)
        sources.append(remote)
    index = f"{registry}/{local_base}"
    with engine.docker_errors(f"Creating the multi-platform base {index}"):
        engine.client().buildx.imagetools.create(sources=sources, tags=[index])
    return index
