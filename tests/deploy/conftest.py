"""Fixtures for the deploy suites (``nox -s deploy``): real stacks, real load, own ports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker.conftest import Inv, run_inv
from xorb_tools.core import engine, services
from xorb_tools.core.errors import XorbError


@dataclass(frozen=True)
class Site:
    """A suite's deployed stack: the environment its tasks run with, its secrets and where
    nginx answers (HTTPS on loopback)."""

    env: dict[str, str]
    secrets: Path
    https: str

    def inv(self, *args: str) -> Inv:
        return run_inv(*args, env=self.env)


@pytest.fixture(scope="session", autouse=True)
def _engine() -> None:
    try:
        engine.require_daemon()
    except XorbError as exc:
        pytest.exit(f"the deploy suite needs a Docker engine: {exc}", returncode=1)


@pytest.fixture(scope="module")
def production_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module's own production secrets (``inv secrets.init``), TLS certificate included."""
    folder = tmp_path_factory.mktemp("secrets") / "secrets"
    result = run_inv("secrets.init", "--environment", "production", "--secrets-dir", str(folder))
    assert result.code == 0, result.out
    return folder


@pytest.fixture(scope="module")
def api_image() -> Iterator[str]:
    """``<namespace>/api:production`` built from this checkout (``/health`` reports the
    version)."""
    result = run_inv("build", "--service", "api", "--target", "production", "--quiet")
    assert result.code == 0, result.out
    yield services.load().service("api").ref("production")


def tag_release(version: str) -> None:
    """Tag every service's production image as release ``version``."""
    docker = engine.client()
    for svc in services.load().services:
        docker.image.tag(svc.ref("production"), svc.ref(version))


def bad_release(tmp: Path, version: str) -> None:
    """Release ``version`` with an API whose server never starts (its health check can never
    pass); the other services' images of that version are the production ones."""
    api = services.load().service("api")
    (tmp / "Dockerfile").write_text(
        f'FROM {api.ref("production")}\nCMD ["python3", "-c", "import time; time.sleep(10**6)"]\n'
    )
    tag_release(version)
    engine.client().buildx.build(tmp, tags=[api.ref(version)], load=True, progress=False)


def untag_releases(*versions: str) -> None:
    """Remove the release tags ``versions`` of every service (the production ones stay)."""
    docker = engine.client()
    refs = [s.ref(v) for s in services.load().services for v in versions]
    present = [r for r in refs if docker.image.exists(r)]
    if present:
        docker.image.remove(present, force=True)
