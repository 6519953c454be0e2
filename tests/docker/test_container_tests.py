"""`nox -s container_tests` really tests inside the image, and says which test failed."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales.exceptions import DockerException

from tests.docker.conftest import copy_repo
from xorb_tools.core import engine, services
from xorb_tools.testing import container_tests as ct

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def worker_testing_image() -> str:
    return ct.build_testing_image(services.load().service("worker"), echo=False)


@pytest.fixture
def planted_repo(tmp_path: Path) -> Path:
    repo = copy_repo(tmp_path / "repo")
    (repo / "tests" / "unit" / "services" / "test_worker_planted.py").write_text(
        "def test_planted_failure() -> None:\n    assert 1 + 1 == 3\n"
    )
    return repo


def test_a_failing_test_in_the_image_is_named_with_its_service(
    worker_testing_image: str, planted_repo: Path, tmp_path: Path
) -> None:
    project = services.load(planted_repo / "pyproject.toml")
    svc = project.service("worker")
    outcome = ct.run(project, svc, worker_testing_image, tmp_path / "reports", ["-q"])
    assert outcome.exit_code != 0
    failed = ct.failed_tests(outcome)
    assert failed == ["worker: tests.unit.services.test_worker_planted::test_planted_failure"]
    # ... and the report proves where it ran: the image's interpreter, as UID 1000.
    assert ct.verify_junit(outcome) == []


@pytest.fixture
def image_without_pytest_cov(worker_testing_image: str) -> Iterator[str]:
    tag = services.load().service("worker").ref("ct-missing-dep")
    with tempfile.TemporaryDirectory(prefix="xorb-ct-") as folder:
        (Path(folder) / "Dockerfile").write_text(
            f"FROM {worker_testing_image}\nUSER 0:0\n"
            "RUN rm -rf /opt/venv/lib/python3.11/site-packages/pytest_cov*\nUSER 1000:1000\n"
        )
        engine.client().buildx.build(folder, tags=[tag], load=True, progress=False)
    try:
        yield tag
    finally:
        with contextlib.suppress(DockerException):
            engine.client().image.remove(tag, force=True)


def test_a_testing_image_missing_a_test_dependency_fails(
    image_without_pytest_cov: str, tmp_path: Path
) -> None:
    project = services.load()
    outcome = ct.run(project, project.service("worker"), image_without_pytest_cov, tmp_path)
    assert outcome.exit_code != 0
