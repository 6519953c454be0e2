"""Fixtures for tests that drive the real Docker engine (``nox -s docker``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from xorb_tools.core import engine, images, services, workspace
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import ROOT, Project
from xorb_tools.rootfs import base_image
from xorb_tools.testing import testinfra


@dataclass(frozen=True)
class Inv:
    """A finished ``inv`` run."""

    code: int
    out: str

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.out.splitlines() if ln.strip()]


def run_inv(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Inv:
    """Run ``inv ARGS`` as a user would (a subprocess), from ``cwd``'s copy of the code."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTHON_ON_WHALES_DEBUG"}
    environ["PYTHONPATH"] = str(cwd / "src")  # a repository copy uses its own xorb_tools
    environ.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(cwd), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    return Inv(proc.returncode, proc.stdout + proc.stderr)


def copy_repo(dest: Path) -> Path:
    """A copy of the checkout (tracked plus uncommitted files) for tests that change files."""
    return workspace.copy_repo(ROOT, dest)


def image_id(ref: str) -> str:
    """The local image's id (its manifest/index digest under the containerd store)."""
    return str(engine.client().image.inspect(ref).id)


@pytest.fixture(scope="session")
def project() -> Project:
    return services.load()


@pytest.fixture(scope="session", autouse=True)
def base(project: Project) -> str:
    """A base image: the configured one when local, else the air-gapped one (built once)."""
    try:
        engine.require_daemon()
    except XorbError as exc:
        pytest.exit(f"the docker suite needs a Docker engine: {exc}", returncode=1)
    client = engine.client()
    if client.image.exists(project.base_image):
        return project.base_image
    return base_image.build(project.local_base_image).tag


PINNED_TAG = "pytest-session-production"


@pytest.fixture(scope="session")
def production(project: Project) -> Iterator[dict[str, str]]:
    """``inv build --target production`` (the README's main job): service -> a tag of the
    session's own on the image that build made. Tests that build one service alone move
    ``:production``, and the containerd image store deletes an image left without a tag,
    so the pin keeps what this build made for the tests that need exactly that."""
    result = run_inv("build", "--target", "production", "--quiet")
    assert result.code == 0, result.out
    client = engine.client()
    pinned = {s.name: s.ref(PINNED_TAG) for s in project.services}
    for s in project.services:
        client.image.tag(s.ref("production"), pinned[s.name])
    yield pinned
    client.image.remove(list(pinned.values()), force=False)


@pytest.fixture(scope="module")
def infra() -> Iterator[testinfra.TestInfra]:
    # Module scope: gone before the engine_reset session's tests, which restart dockerd
    # only while no container runs.
    with testinfra.start(prefix="xorb-dt") as running:
        yield running


def uncompressed_mb(ref: str) -> float:
    return images.uncompressed_size(ref) / images.MB


DEPS_STEP = re.compile(r"^#(\d+) \[(?:\S+ )?deps-(?:common|service) \d+/\d+\] RUN", re.M)


def deps_steps_cached(log: str) -> tuple[int, int]:
    """(cached, total) dependency-install steps in a plain-progress build log."""
    ids = set(DEPS_STEP.findall(log))
    cached = {i for i in ids if re.search(rf"^#{i} CACHED$", log, re.M)}
    return len(cached), len(ids)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository whose files a test module may change."""
    return copy_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A local build cache of the test module's own."""
    return {"XORB_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
