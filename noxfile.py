"""XORB test sessions (`uv run nox -l`). The logic lives in ``xorb_tools``.

`uv run nox` runs what CI runs; `-t fast` the engine-free ones, `-t docker` the rest.
"""

from __future__ import annotations

import os

import nox

from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import load
from xorb_tools.testing import container_tests as ct
from xorb_tools.testing import sessions as s

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
# CI's order: the docker session prunes the builder cache (fresh-runner tests) and the
# benchmark starts cold builds, so both come last and nothing after them builds cold.
nox.options.sessions = [
    "lint",
    "tests",
    "integration",
    "container_tests",
    "structure",
    "e2e",
    "deploy",
    "resilience",
    "cluster",
    "workflows",
    "docker",
]
# It restarts dockerd, stopping whatever else the engine runs: CI's own host only, or by name.
if os.environ.get("CI"):
    nox.options.sessions.append("engine_reset")

try:
    PROJECT = load()
except XorbError as exc:  # `nox -l` with a broken table: its one sentence, not a traceback
    raise SystemExit(f"error: {exc}") from None
SERVICES = [svc.name for svc in PROJECT.services]


@nox.session(tags=["fast"])
def lint(session: nox.Session) -> None:
    """ruff, mypy, import layers, hadolint, shellcheck, compose config and workflow checks."""
    groups = ("api", "orchestrator", "worker", "vault", "tools", "test", "lint", "typing")
    s.sync(session, *groups, "workflows")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports", "--no-cache")  # the layers contract in pyproject.toml
    session.run("hadolint", "--config", ".hadolint.yaml", *s.dockerfiles())
    session.run("shellcheck", *s.shell_scripts())
    for compose_file in s.compose_files():
        session.run("docker", "compose", "-f", compose_file, "config", "--quiet", external=True)
    if s.workflows():
        schema = "vendor.github-workflows"
        session.run("check-jsonschema", "--builtin-schema", schema, *s.workflows())
        session.run("zizmor", "--offline", "--min-severity", "medium", *s.workflows())


@nox.session(tags=["fast"])
def tests(session: nox.Session) -> None:
    """Unit tests on the host: no Docker engine needed, fast."""
    s.sync(session, "api", "orchestrator", "worker", "vault", "tools", "test")
    s.pytest(session, "tests/unit", "-m", "not docker and not integration", name="unit")


@nox.session(tags=["docker"])
def docker(session: nox.Session) -> None:
    """Engine tests: base image, inv build, cache, CA secret, bad input (real Docker)."""
    # workflows: act and Node 24 for the classic-store engine's gha round trip
    s.sync(session, "api", "orchestrator", "worker", "tools", "test", "workflows")
    s.ensure_test_images("development", "production")  # test_compose brings both up
    s.pytest(session, "tests/docker", "-m", "docker and not engine_reset", name="docker")


@nox.session(tags=["disruptive"])
def engine_reset(session: nox.Session) -> None:
    """The BuildKit key-store reset: restarts dockerd (default run only with CI set)."""
    s.sync(session, "tools", "test")
    # Its own file only: the other engine tests' modules need the services' packages.
    keys = "tests/docker/test_buildkit_keys.py"
    s.pytest(session, keys, "-m", "engine_reset", name="engine-reset")


@nox.session(tags=["docker"])
def integration(session: nox.Session) -> None:
    """The services against real PostgreSQL, Redis and Temporal containers."""
    s.sync(session, "api", "orchestrator", "worker", "vault", "tools", "test", "devservers")
    s.ensure_test_images()
    s.pytest(session, "tests/integration", "-m", "integration", name="integration")


@nox.session(tags=["docker"])
def structure(session: nox.Session) -> None:
    """The guide's container test suite: 8 categories against real images and containers."""
    s.sync(session, "tools", "test")
    s.ensure_test_images()
    session.run("python", "-m", "xorb_tools.quality.structure", *session.posargs)
    # The run above is every category on our images; pytest adds the broken-image cases.
    # (`pytest tests/structure` alone also runs each category as its own test.)
    negatives = "not test_category_passes_on_our_images"
    s.pytest(session, "tests/structure", "-m", "docker", "-k", negatives, name="structure")


@nox.session(tags=["docker"])
def e2e(session: nox.Session) -> None:
    """The development stack: up --wait, a job and a workflow through the API, down -v."""
    s.sync(session, "tools", "test")
    s.ensure_test_images("development")
    s.pytest(session, "tests/e2e", "-m", "e2e", name="e2e")


@nox.session(tags=["docker"])
def deploy(session: nox.Session) -> None:
    """Blue-green (compose) and rolling (swarm) deploys, scaling and rollback, under load."""
    s.sync(session, "tools", "test")
    s.ensure_test_images("production")
    s.pytest(session, "tests/deploy", "-m", "deploy", name="deploy")


@nox.session(tags=["docker"])
def resilience(session: nox.Session) -> None:
    """The production stack under faults and load; figures in reports/resilience.json."""
    s.sync(session, "api", "tools", "test")
    s.ensure_test_images("production")
    s.pytest(session, "tests/resilience", "-m", "resilience", name="resilience")


@nox.session(tags=["docker"])
def cluster(session: nox.Session) -> None:
    """A real three-node swarm here: deploy by digest, spread, rolling update, rollback,
    drain and a node crash under load; reports/cluster.json; `inv cluster.down` after."""
    s.sync(session, "tools", "test")
    s.ensure_test_images("production")
    s.pytest(session, "tests/cluster", "-m", "cluster", name="cluster")


@nox.session(tags=["docker"])
def workflows(session: nox.Session) -> None:
    """ci.yml through act, offline: lint-and-unit, container-tests (api), security-scan twice
    (the second imports the gha cache the first exported); reports/workflows.json."""
    s.sync(session, "tools", "workflows")
    s.ensure_test_images()
    s.run_workflows(session)


@nox.session(tags=["docker"])
@nox.parametrize("service", SERVICES, ids=SERVICES)
def container_tests(session: nox.Session, service: str) -> None:
    """Build a service's testing image and run its tests inside it (as UID 1000)."""
    s.sync(session, "tools", "test")
    s.ensure_test_images()
    svc = PROJECT.service(service)
    image = ct.build_testing_image(svc)
    reports = s.report_dir()
    outcome = ct.run(PROJECT, svc, image, reports, list(session.posargs))
    problems = ct.verify_junit(outcome) + ct.failed_tests(outcome)
    if outcome.exit_code != 0 or problems:
        detail = "; ".join(problems) or f"pytest exited {outcome.exit_code}"
        session.error(f"container tests failed in {image}: {detail}")
    # Combined across the services whose sessions have run so far.
    data = str(reports / ".coverage.containers")
    files = [str(f) for f in ct.coverage_files(reports)]
    session.run("coverage", "combine", "--keep", f"--data-file={data}", *files, silent=True)
    session.run(
        "coverage", "xml", f"--data-file={data}", "-o", str(reports / "coverage-containers.xml")
    )
    session.run("coverage", "report", f"--data-file={data}", "--skip-covered", "--skip-empty")


@nox.session(tags=["bench"])
def bench(session: nox.Session) -> None:
    """Benchmarks against the naive baseline; `-- --quick` is the CI smoke run (not default)."""
    s.sync(session, "api", "orchestrator", "worker", "tools")
    s.ensure_test_images()
    session.run("inv", "bench", *session.posargs)
