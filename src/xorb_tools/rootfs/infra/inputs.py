"""What an infrastructure image is built from, as digests: pinned PyPI versions from uv.lock,
the epoch, the mirror and the CA bundle; a label records them, so an unchanged image is
never rebuilt."""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xorb_tools.core import ca
from xorb_tools.core.errors import XorbError
from xorb_tools.rootfs import base_image

if TYPE_CHECKING:
    pass
from xorb_tools.rootfs.infra.catalog import (
    CONTEXT,
    DEFAULT_CA_BUNDLE,
    DPKG_EXCLUDES,
    UV_LOCK,
    InfraImage,
)


def _locked(distribution: str, lock: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(lock.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise XorbError(f"Cannot read the pin of {distribution} from {lock}: {exc}.") from None
    for package in data.get("package", []):
        if package.get("name") == distribution and "version" in package:
            return dict(package)
    raise XorbError(f"{distribution} is not pinned in {lock}: add it and run `uv lock`.")


def locked_version(distribution: str, lock: Path = UV_LOCK) -> str:
    """The version of ``distribution`` pinned in uv.lock (one source of truth for pins)."""
    return str(_locked(distribution, lock)["version"])


def locked_hashes(distribution: str, lock: Path = UV_LOCK) -> list[str]:
    """The ``sha256:`` hashes of the locked version's wheels (pip ``--hash`` values)."""
    return [str(w["hash"]) for w in _locked(distribution, lock).get("wheels", []) if "hash" in w]


def build_args(spec: InfraImage, epoch: int) -> dict[str, str]:
    """The ``--build-arg`` values of one image's stage."""
    args = {"ROOTFS": spec.rootfs_ref, "SOURCE_DATE_EPOCH": str(epoch)}
    if spec.pypi:  # one requirement line per wheel: pip --require-hashes
        args["PYPI_PINS"] = "\n".join(
            " ".join([f"{d}=={locked_version(d)}", *(f"--hash={h}" for h in locked_hashes(d))])
            for d in spec.pypi
        )
    return args


def _digest(parts: Iterable[str | bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return f"sha256:{digest.hexdigest()}"


def rootfs_inputs(spec: InfraImage, epoch: int) -> str:
    """Digest of everything the rootfs depends on (not the mirror's state: pin it by epoch)."""
    return _digest(
        [
            spec.rootfs_ref if spec.on_project_base else "",
            spec.suite,
            *spec.packages,
            repr([asdict(u) for u in spec.users]),
            *spec.excludes,
            *spec.remove,
            *DPKG_EXCLUDES,
            str(epoch),
        ]
    )


def image_inputs(spec: InfraImage, epoch: int) -> str:
    """Digest of the rootfs inputs plus the build context and build arguments."""
    files = sorted(p for p in CONTEXT.rglob("*") if p.is_file())
    parts: list[str | bytes] = [
        rootfs_inputs(spec, epoch),
        repr(sorted(build_args(spec, epoch).items())),
    ]
    for path in files:
        parts += [str(path.relative_to(CONTEXT)), path.read_bytes()]
    return _digest(parts)


def source_date_epoch(epoch: int | None = None) -> int:
    if epoch is not None:
        return epoch
    return int(os.environ.get("SOURCE_DATE_EPOCH", base_image.DEFAULT_EPOCH))


def mirror_url(mirror: str | None = None) -> str:
    """``mirror``, else ``XORB_DEBIAN_MIRROR``, else the host's own Debian mirror."""
    return mirror or os.environ.get("XORB_DEBIAN_MIRROR") or base_image.default_mirror()


def ca_bundle(explicit: str | None = None) -> Path | None:
    """The CA bundle handed to builds that download from PyPI (a TLS-intercepting proxy's CA).

    ``explicit`` (``--ca-cert``), then PIP_CERT / SSL_CERT_FILE / REQUESTS_CA_BUNDLE, then the
    system bundle, which on hosts behind such a proxy is where its CA is trusted.
    """
    found = ca.find(explicit)
    if found is not None:
        return found.path
    return DEFAULT_CA_BUNDLE if DEFAULT_CA_BUNDLE.is_file() else None
