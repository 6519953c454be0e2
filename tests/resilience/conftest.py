"""The resilience suite's one production stack (``nox -s resilience``).

The stack comes up once per session, as the compose project ``xorb-resilience-production``
on free loopback ports, from the production images built from this checkout. It boots in a
background thread that starts with the first test, so the bad-input table (which needs no
stack) runs meanwhile. Each module states its place with ``pytest.mark.order``
(pytest-order): the bad-input table first (it overlaps the boot), the faults one at a time
in a fixed order (each leaves the stack healthy again), the whole-stack stop last. The
session removes the project with its volumes at the end, even after a failure.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_ports
from tests.resilience.platform import HERE, PREFIX, Platform
from xorb_tools import build
from xorb_tools.core import names, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import stack
from xorb_tools.rootfs import infra
from xorb_tools.testing import resilience

ENVIRONMENT = "production"
REPLICAS = {"XORB_API_REPLICAS": "3", "XORB_WORKER_REPLICAS": "2"}
"""Three API replicas as in production; two worker containers (production: four) of two
RQ processes each keep a 2-core host responsive while the faults run."""
LABEL = "com.docker.compose.project"


class Boot:
    """Builds the images, then brings the stack up, in a background thread."""

    def __init__(self, secrets_dir: Path) -> None:
        self.built = threading.Event()
        self.secrets_dir = secrets_dir
        # Held open together while chosen, so the four are distinct.
        names = ("XORB_HTTPS_PORT", "XORB_HTTP_PORT", "XORB_PROMETHEUS_PORT", "XORB_GRAFANA_PORT")
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.stack = self._open()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="boot")
        self.future = self._pool.submit(self._run)

    def _open(self) -> stack.Stack:
        opened = stack.open_stack(ENVIRONMENT, secrets_dir=self.secrets_dir, grafana=False)
        opened.extra_files.append(HERE / "compose.resilience.yml")
        # the air-gapped Temporal gets its database file from open_stack (production)
        if opened.variables.get("XORB_TEMPORAL_IMAGE", "").startswith(infra.get("temporal").image):
            assert stack.TEMPORAL_DURABLE in opened.extra_files
        opened.variables.update(self.ports)
        opened.variables.update(REPLICAS)
        return opened

    def _run(self) -> Platform:
        started = time.monotonic()
        try:
            options = build.Options(environment=ENVIRONMENT, target="production")
            build.run(build.plan(services.load(), options), echo=False)
        finally:
            self.built.set()
        built = time.monotonic()
        stack.down(self.stack, volumes=True)  # a run that was killed may have left one
        stack.deploy(self.stack)
        resilience.record(
            "stack_up",
            resilience.Fault(
                details={
                    "build_seconds": round(built - started, 1),
                    "deploy_seconds": round(time.monotonic() - built, 1),
                }
            ),
        )
        return Platform(self.stack, int(self.ports["XORB_HTTPS_PORT"]))

    def platform(self) -> Platform:
        return self.future.result(timeout=900)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def report() -> None:
    """A fresh ``reports/resilience.json`` (the last one kept as ``*.previous.json``)."""
    resilience.start_run(stack=f"{PREFIX}-{ENVIRONMENT}")


@pytest.fixture(scope="session", autouse=True)
def boot(tmp_path_factory: pytest.TempPathFactory, report: None) -> Iterator[Boot]:
    secrets_dir = tmp_path_factory.mktemp("secrets") / "secrets"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(names.PROJECT_PREFIX_VAR, PREFIX)
        stack.init_secrets(ENVIRONMENT, secrets_dir)
        started = Boot(secrets_dir)
        try:
            yield started
        finally:
            started.close()
            try:
                stack.down(started.stack, volumes=True)
            except XorbError as exc:
                pytest.fail(f"could not remove {started.stack.project}: {exc}")
            label = f"{LABEL}={started.stack.project}"
            docker = started.stack.docker
            assert docker.container.list(all=True, filters=[("label", label)]) == []
            assert docker.volume.list(filters=[("label", label)]) == []


@pytest.fixture(scope="session")
def platform(boot: Boot) -> Platform:
    """The running production stack (waits for the boot)."""
    return boot.platform()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Rows that need flags another change adds (``inv deploy --engine``...) run last."""
    late = [i for i in items if i.get_closest_marker("late")]
    if late:
        items[:] = [i for i in items if i not in late] + late


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "late: run after every other resilience test")
