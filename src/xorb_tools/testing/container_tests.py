"""``nox -s container_tests``: pytest inside each service's ``testing`` image.

For one service: build its ``testing`` target through the same code as ``inv build``
(with cache), start PostgreSQL, Redis and Temporal as containers on a private network,
run pytest in the image as UID 1000 with a read-only root filesystem and the app source
and tests mounted read-only, write JUnit XML and coverage back to ``reports/``, and tear
the infrastructure down even when the tests fail.

Which tests run where: ``tests/unit/services/test_<service>_*.py`` belong to that
service; every other file there tests ``common`` and runs in every image.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from xorb_tools import build
from xorb_tools.core import engine, services
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project, Service
from xorb_tools.testing import testinfra

UNIT_DIR = Path("tests") / "unit" / "services"
IMAGE_PYTHON = "/opt/venv/bin/python3"
APP_USER = "1000:1000"


@dataclass(frozen=True)
class Outcome:
    """One service's in-image test run."""

    service: str
    image: str
    exit_code: int
    junit: Path
    coverage: Path


def test_files(project: Project, service: Service) -> list[str]:
    """The test files (repository-relative) that run inside ``service``'s image."""
    others = [s.name for s in project.services if s.name != service.name]
    chosen = []
    for path in sorted((project.root / UNIT_DIR).glob("test_*.py")):
        if any(path.name.startswith(f"test_{other}_") for other in others):
            continue
        chosen.append(str(path.relative_to(project.root)))
    if not chosen:
        raise XorbError(f"No tests for {service.name} under {UNIT_DIR}.")
    return chosen


def build_testing_image(service: Service, *, cache_mode: str = "auto", echo: bool = True) -> str:
    """Build ``service``'s testing target (same code path as ``inv build``); its tag."""
    plan = build.plan(
        services.load(),
        build.Options(
            environment="test", target="testing", services=(service.name,), cache=cache_mode
        ),
    )
    build.run(plan, echo=echo)
    return plan.builds[0].tags[0]


def run(
    project: Project,
    service: Service,
    image: str,
    reports: Path,
    pytest_args: list[str] | None = None,
) -> Outcome:
    """Run the service's tests in ``image`` against real infrastructure; never raises on
    test failures (the exit code says), always removes what it started."""
    client = engine.client()
    out_dir = reports / "container" / service.name
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir.chmod(0o777)  # written by UID 1000 inside the container
    junit = out_dir / "junit.xml"
    coverage = out_dir / ".coverage"
    for stale in (junit, coverage):
        stale.unlink(missing_ok=True)
    argv = [
        "python3",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        f"--junitxml=/reports/{junit.name}",
        "--cov=common",
        f"--cov={service.package}",
        "--cov-report=",
        "-o",
        "addopts=-ra",
        *[f"/app/{p}" for p in test_files(project, service)],
        *(pytest_args or []),
    ]
    with testinfra.start(prefix=f"xorb-ct-{service.name}") as infra:
        env = {
            **infra.env(internal=True),
            "XORB_ENV": "test",
            "XORB_IMAGE_REF": image,
            "COVERAGE_FILE": f"/reports/{coverage.name}",
            "XORB_TEST_DATABASE_URL": infra.database_url_internal,
            "XORB_TEST_REDIS_URL": infra.redis_url_internal,
            "XORB_TEST_TEMPORAL_HOST": infra.temporal_host_internal,
        }
        container = client.container.run(
            image,
            argv,
            detach=True,
            networks=[infra.network],
            user=APP_USER,
            read_only=True,
            tmpfs=["/tmp"],  # noqa: S108 - the container's own tmpfs
            workdir="/app",
            envs=env,
            volumes=[
                (str(project.root / "src"), "/app/src", "ro"),
                (str(project.root / "tests"), "/app/tests", "ro"),
                (str(project.root / "pyproject.toml"), "/app/pyproject.toml", "ro"),
                (str(out_dir), "/reports", "rw"),
            ],
            name=f"xorb-ct-{service.name}-{infra.run_id}",
        )
        try:
            for item in client.container.logs(container, follow=True, stream=True):
                chunk: object = item[1] if isinstance(item, tuple) else item
                text = chunk.decode(errors="replace") if isinstance(chunk, bytes) else str(chunk)
                sys.stdout.write(text)
                sys.stdout.flush()
            code = int(client.container.wait(container))
        finally:
            client.container.remove(container, force=True)
    return Outcome(service.name, image, code, junit, coverage)


def verify_junit(outcome: Outcome) -> list[str]:
    """Problems proving the tests did not run inside the image (empty when they did).

    The root conftest records the interpreter and UID as testsuite properties.
    """
    if not outcome.junit.exists():
        return [f"{outcome.service}: no JUnit report was written"]
    root = ET.parse(outcome.junit).getroot()  # noqa: S314 - our own report
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    problems = []
    if props.get("python_executable") != IMAGE_PYTHON:
        problems.append(
            f"{outcome.service}: tests ran with {props.get('python_executable')}, "
            f"not the image's {IMAGE_PYTHON}"
        )
    if props.get("uid") != "1000":
        problems.append(f"{outcome.service}: tests ran as UID {props.get('uid')}, not 1000")
    return problems


def failed_tests(outcome: Outcome) -> list[str]:
    """``service: test id`` for every failed or errored test in the JUnit report."""
    if not outcome.junit.exists():
        return []
    root = ET.parse(outcome.junit).getroot()  # noqa: S314 - our own report
    failed = []
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{outcome.service}: {case.get('classname')}::{case.get('name')}")
    return failed


def coverage_files(reports: Path) -> list[Path]:
    """Every service's in-image coverage data written so far."""
    return sorted((reports / "container").glob("*/.coverage"))
