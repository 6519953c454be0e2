"""``inv base-image``: a Debian 12 + Python 3.11 base image built without any registry.

mmdebstrap makes a minimal rootfs from Debian packages (the host's own mirror), which is
imported as an image. With a fixed ``SOURCE_DATE_EPOCH`` two builds from the same mirror
state give a byte-identical rootfs, so the layer digest (the rootfs digest) is the same.
The result stands in for ``python:3.11-slim-bookworm`` on air-gapped hosts: same Python
minor version, ``python3 -m venv`` works, user ``xorb`` (UID/GID 1000) already present.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.rootfs import mmdebstrap

SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
# 2025-01-01T00:00:00Z unless SOURCE_DATE_EPOCH says otherwise: fixes every mtime.
DEFAULT_EPOCH = 1735689600
DPKG_EXCLUDES = (
    *mmdebstrap.DPKG_EXCLUDES,
    # the base serves only Python: no charset converters, no leap-second zone files
    "path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*",
    "path-exclude=/usr/lib/aarch64-linux-gnu/gconv/*",
    "path-exclude=/usr/share/zoneinfo/right/*",
)
USER_HOOK = (
    'chroot "$1" groupadd --gid 1000 xorb && '
    'chroot "$1" useradd --uid 1000 --gid 1000 --no-create-home '
    "--home-dir /nonexistent --shell /usr/sbin/nologin xorb"
)
# Package lists, caches and logs; plus the parts of the standard library no service
# imports (2to3 and pydoc's topic data), removed after dpkg has configured Python.
CLEAN_HOOK = (
    'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/* '
    '"$1"/var/cache/ldconfig/aux-cache "$1"/var/cache/debconf/*-old '
    '"$1"/usr/lib/python3.11/lib2to3 "$1"/usr/lib/python3.11/pydoc_data'
)
IMAGE_CHANGES = (
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["python3"]',
)


@dataclass(frozen=True)
class BaseImage:
    """What ``inv base-image`` produced."""

    tag: str
    rootfs_digest: str
    size_bytes: int
    built: bool


def default_mirror() -> str:
    """The host's own Debian mirror (from apt sources), else deb.debian.org."""
    for src in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in src.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    lst = Path("/etc/apt/sources.list")
    if lst.exists():
        for line in lst.read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[0] == "deb" and "debian" in line and "security" not in line:
                return parts[1] if not parts[1].startswith("[") else parts[2]
    return "http://deb.debian.org/debian"


def mmdebstrap_argv(
    out: Path, mirror: str, suite: str = SUITE, arch: str | None = None
) -> list[str]:
    """The mmdebstrap command line for the base rootfs (``arch``: a foreign architecture,
    run under emulation)."""
    argv = [
        "mmdebstrap",
        "--quiet",
        *([f"--architectures={arch}"] if arch else []),
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        '--aptopt=APT::Install-Recommends "false"',
    ]
    argv += [f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES]
    argv += [f"--customize-hook={USER_HOOK}", f"--customize-hook={CLEAN_HOOK}"]
    argv += [suite, str(out), mirror]
    return argv


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file: for a rootfs tar this is the image layer's diff id."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def rootfs_digest(tag: str) -> str:
    """The rootfs (single layer) digest of an imported base image."""
    image = engine.client().image.inspect(tag)
    layers = image.root_fs.layers or []
    if len(layers) != 1:
        raise XorbError(f"{tag} is not a single-layer base image; rebuild it with --force.")
    return str(layers[0])


def bootstrap_and_import(
    argv_for: Callable[[Path], list[str]],
    tag: str,
    changes_for: Callable[[str], list[str]],
    *,
    epoch: int,
    workdir: Path | None = None,
    platform: str | None = None,
) -> tuple[str, int]:
    """Run mmdebstrap (``argv_for(out_tar)``) with a fixed SOURCE_DATE_EPOCH and import the
    rootfs tar as ``tag`` with ``changes_for(rootfs_digest)``; return (digest, tar bytes).

    The one place a rootfs becomes an image: the base image and the infrastructure images
    both go through it."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    with tempfile.TemporaryDirectory(prefix="xorb-rootfs-", dir=workdir) as tmp:
        out = Path(tmp) / "rootfs.tar"
        started = time.monotonic()
        _progress(f"{tag}: installing Debian packages into a rootfs (mmdebstrap)")
        proc = subprocess.run(argv_for(out), env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            raise XorbError(f"mmdebstrap failed for {tag} (exit {proc.returncode}):\n{tail}")
        digest = sha256_file(out)
        size = out.stat().st_size
        _progress(f"{tag}: importing the {size / 1e6:.0f} MB rootfs into the engine")
        with engine.docker_errors(f"Importing the rootfs as {tag}"):
            engine.client().import_(out, tag=tag, changes=changes_for(digest), platform=platform)
        _progress(f"{tag}: done in {time.monotonic() - started:.0f} s")
        return digest, size


def _progress(line: str) -> None:
    """One line of progress on stderr: these steps take a minute and print nothing else."""
    print(f"rootfs: {line}", file=sys.stderr, flush=True)


def _require_mmdebstrap() -> str:
    if os.geteuid() != 0:
        raise XorbError("Building the base image needs root (mmdebstrap): run the task as root.")
    return mmdebstrap.ensure()  # installs it with apt-get when missing


def build(
    tag: str,
    *,
    mirror: str | None = None,
    epoch: int | None = None,
    force: bool = False,
    workdir: Path | None = None,
    arch: str | None = None,
) -> BaseImage:
    """Build (or reuse) the air-gapped base image ``tag`` (``arch``: for another
    architecture than the host's, e.g. ``arm64``, under QEMU emulation)."""
    engine.require_daemon()
    client = engine.client()
    if not force and client.image.exists(tag):
        image = client.image.inspect(tag)
        return BaseImage(tag, rootfs_digest(tag), int(image.size or 0), built=False)
    _require_mmdebstrap()
    epoch_value = int(
        epoch if epoch is not None else os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH)
    )
    mirror_url = mirror or default_mirror()
    digest, size = bootstrap_and_import(
        lambda out: mmdebstrap_argv(out, mirror_url, arch=arch),
        tag,
        lambda digest: [
            *IMAGE_CHANGES,
            f"LABEL org.opencontainers.image.title=xorb-base "
            f"org.opencontainers.image.base.name=debian:{SUITE} "
            f"io.xorb.rootfs.digest={digest} "
            f"io.xorb.source-date-epoch={epoch_value}",
        ],
        epoch=epoch_value,
        workdir=workdir,
        platform=f"linux/{arch}" if arch else None,
    )
    imported = rootfs_digest(tag)
    if imported != digest:
        raise XorbError(f"Imported rootfs digest {imported} differs from the tar's {digest}.")
    return BaseImage(tag, digest, size, built=True)
