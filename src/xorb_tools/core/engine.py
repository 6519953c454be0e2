"""The one configured python-on-whales client, and engine checks.

Every Docker call in the automation goes through :func:`client`; failures become
:class:`~xorb_tools.core.errors.XorbError` through :func:`docker_errors`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from xorb_tools.core import errors
from xorb_tools.core.errors import XorbError

# python-on-whales (and pydantic under it) is imported where it is used: it costs about
# 0.2 s, which every task's start and `inv --list` would otherwise pay.
if TYPE_CHECKING:
    from python_on_whales import DockerClient

START_HINT = errors.START_HINT


@functools.cache
def client(host: str | None = None) -> DockerClient:
    """The python-on-whales client every task uses (honours DOCKER_HOST / DOCKER_CONTEXT);
    ``host`` names another engine (a swarm manager: ``unix://...`` or ``tcp://...``)."""
    if os.environ.get("PYTHON_ON_WHALES_DEBUG"):
        # It prints the whole environment, secrets included.
        raise XorbError("Unset PYTHON_ON_WHALES_DEBUG: it prints every environment variable.")
    # python-on-whales logs every argv at DEBUG (nox turns that on): argv can carry
    # `--env NAME=value`, so its logger never prints below WARNING.
    logging.getLogger("python_on_whales").setLevel(logging.WARNING)
    from python_on_whales import DockerClient

    return DockerClient(client_call=[os.environ.get("XORB_DOCKER_CLI", "docker")], host=host)


def _tail(text: str | None, lines: int = 12) -> str:
    if not text:
        return ""
    kept = [ln for ln in text.strip().splitlines() if ln.strip()][-lines:]
    return "\n".join(kept)


@contextlib.contextmanager
def docker_errors(what: str) -> Iterator[None]:
    """Turn a ``DockerException`` raised while doing ``what`` into one clear XorbError."""
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except DockerException as exc:
        detail = _tail(exc.stderr) or _tail(exc.stdout)
        message = f"{what} failed (docker exit {exc.return_code})"
        if "Cannot connect to the Docker daemon" in detail or "docker.sock" in detail:
            message = f"{what} failed: no Docker daemon answers; {START_HINT}"
        raise XorbError(message + (f":\n{detail}" if detail else ".")) from None


def require_cli() -> str:
    """Path of the docker CLI, or fail saying how to get one."""
    path = shutil.which(os.environ.get("XORB_DOCKER_CLI", "docker"))
    if not path:
        raise XorbError(
            "No docker CLI on PATH: install Docker "
            "(`bash scripts/provision.sh` on Debian, as root or with sudo)."
        )
    return path


def server_version() -> str:
    """The engine's version, or fail in one sentence when no daemon answers."""
    require_cli()
    from python_on_whales.exceptions import DockerException

    try:
        version = client().version()
    except DockerException:
        raise XorbError(f"No Docker daemon answers: {START_HINT}.") from None
    server = version.server
    if server is None or not server.version:
        raise XorbError(f"No Docker daemon answers: {START_HINT}.")
    return str(server.version)


def require_daemon() -> None:
    """Fail in one sentence unless a Docker daemon answers."""
    server_version()


def buildx_version() -> str:
    """The buildx plugin's version, or fail saying how to install it."""
    from python_on_whales.exceptions import DockerException

    try:
        raw = str(client().buildx.version())
    except DockerException:
        raise XorbError(
            "The docker buildx plugin is missing: install it "
            "(`bash scripts/provision.sh` on Debian, as root or with sudo, or Docker Desktop)."
        ) from None
    # "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3" -> "0.13.1+ds1"
    parts = raw.split()
    return parts[1] if len(parts) > 1 else raw


def compose_version() -> str:
    """The compose v2 plugin's version, or fail saying how to install it."""
    from python_on_whales.exceptions import DockerException

    try:
        raw = str(client().compose.version())
    except DockerException:
        raise XorbError(
            "The docker compose v2 plugin is missing: install it "
            "(`bash scripts/provision.sh` on Debian, as root or with sudo, or Docker Desktop)."
        ) from None
    return raw.removeprefix("Docker Compose version ").strip()


def image_exists(ref: str) -> bool:
    """Whether ``ref`` is in the local image store."""
    return bool(client().image.exists(ref))


def have_image(ref: str, docker: DockerClient | None = None) -> bool:
    """Whether ``ref`` is local, or could be pulled now (then it is local)."""
    docker = docker or client()
    if docker.image.exists(ref):
        return True
    from python_on_whales.exceptions import DockerException

    try:
        docker.image.pull(ref, quiet=True)
    except DockerException:
        return False
    return True


def buildkit_key_store() -> Path | None:
    """The engine's built-in BuildKit cache-key store (``<docker root>/buildkit/cache.db``)
    when the engine runs on this machine and the file is visible here, else None.

    Every build that exports a cache walks this store, and it only ever grows: a builder
    prune drops the cached results, not the keys (``scripts/reset-buildkit-keys.sh``).
    """
    from python_on_whales.exceptions import DockerException

    try:
        info = client().system.info()
    except DockerException:
        return None
    if not info.docker_root_dir or str(info.name or "") != socket.gethostname():
        return None  # a remote engine: a local path of that name is another store
    path = Path(str(info.docker_root_dir)) / "buildkit" / "cache.db"
    from python_on_whales.exceptions import DockerException

    try:
        path.stat()
    except OSError:
        return None  # not there, or /var/lib/docker is closed to this user
    return path
