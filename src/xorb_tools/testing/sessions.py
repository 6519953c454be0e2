"""What the nox sessions do, kept out of ``noxfile.py`` so it is typed and testable.

Each session's virtualenv is synced from ``uv.lock`` (the pins the images install), so the
host tests, the lint tools and the images run the same versions.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from xorb_tools.core.services import ROOT, reports_dir

if TYPE_CHECKING:
    import nox

REPORTS = reports_dir(ROOT)
SHELL_SCRIPTS = ("scripts", ".ci")


def sync(session: nox.Session, *groups: str) -> None:
    """Install the locked project and ``groups`` into the session's virtualenv."""
    argv = ["uv", "sync", "--frozen", "--no-default-groups"]
    for group in groups:
        argv += ["--group", group]
    session.run_install(
        *argv, env={"UV_PROJECT_ENVIRONMENT": str(session.virtualenv.location)}, silent=True
    )


def pytest(session: nox.Session, *args: str, name: str) -> None:
    """Run pytest with a JUnit report under ``reports/``; posargs pass through."""
    REPORTS.mkdir(exist_ok=True)
    session.run(
        "pytest",
        f"--junitxml={REPORTS / f'junit-{name}.xml'}",
        "--durations=10",
        *args,
        *session.posargs,
    )


def shell_scripts() -> list[str]:
    """Every shell script the repository ships (for shellcheck)."""
    found: list[str] = []
    for folder in SHELL_SCRIPTS:
        for path in sorted((ROOT / folder).glob("*")):
            shebang = path.is_file() and path.read_text(errors="ignore").startswith(
                "#!/usr/bin/env bash"
            )
            if path.is_file() and (path.suffix == ".sh" or shebang):
                found.append(str(path.relative_to(ROOT)))
    for path in sorted((ROOT / "docker").rglob("*.sh")):
        found.append(str(path.relative_to(ROOT)))
    return found


def dockerfiles() -> list[str]:
    """Every Dockerfile the repository ships (for hadolint)."""
    return sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("Dockerfile*")
        if ".nox" not in p.parts
        and ".venv" not in p.parts
        and p.is_file()
        and not p.name.endswith(".dockerignore")
    )


def compose_files() -> list[str]:
    """The compose base file and every environment's file (each must validate alone)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "compose").glob("docker-compose*.yml"))


def workflows() -> list[str]:
    """The GitHub Actions workflow files."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.y*ml"))


def have(binary: str) -> bool:
    """Whether ``binary`` is on PATH (inside the session's virtualenv first)."""
    return shutil.which(binary) is not None


def env_with(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for engine-driving sessions (never PYTHON_ON_WHALES_DEBUG)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_ON_WHALES_DEBUG"}
    env.update(extra or {})
    return env


def paths(*names: str) -> Sequence[str]:
    """Repository-relative paths that exist."""
    return [n for n in names if (ROOT / n).exists()]


def report_dir() -> Path:
    """``reports/``, created."""
    REPORTS.mkdir(exist_ok=True)
    return REPORTS


TEST_INFRA = ("postgres", "redis", "temporal")
"""What the services' tests run against (integration, container tests, the engine tests)."""


def infra_for(*stacks: str) -> tuple[str, ...]:
    """TEST_INFRA and whatever the named environments' compose stacks run besides
    (``stack.INFRA``: the development stack's Prometheus, the production stack's nginx)."""
    from xorb_tools.deploy import stack

    names = list(TEST_INFRA)
    for environment in stacks:
        names += [n for n in stack.INFRA[environment] if n not in names]
    return tuple(names)


def ensure_test_images(*stacks: str) -> None:
    """Provision what engine-driving sessions need and a fresh host lacks: a base image
    (the air-gapped one when the configured base cannot be pulled) and the infrastructure
    images of ``infra_for(*stacks)`` (official when available, else built from Debian
    packages). ``stacks`` names the environments whose compose stacks the session brings
    up. Idempotent: existing images are reused."""
    from xorb_tools.core import engine, services
    from xorb_tools.core.errors import XorbError
    from xorb_tools.rootfs import base_image, infra

    engine.require_daemon()
    project = services.load()
    client = engine.client()
    if not client.image.exists(project.base_image) and not client.image.exists(
        project.local_base_image
    ):
        try:
            client.image.pull(project.base_image, quiet=True)
        except Exception:  # any pull failure means: build it locally
            base_image.build(project.local_base_image)
    for name in infra_for(*stacks):
        try:
            infra.resolve(name)
        except XorbError:
            infra.build(name)


def run_workflows(session: nox.Session) -> None:
    """Run ci.yml's session jobs through act and write ``reports/workflows.json``
    (:func:`xorb_tools.github.workflows.prove`); a failed job or no gha import fails the session."""
    import json
    import tempfile

    from xorb_tools.core import engine
    from xorb_tools.core.errors import XorbError
    from xorb_tools.github import workflows as wf

    def prune() -> None:
        engine.client().buildx.prune(all=True)

    reports = report_dir()
    with tempfile.TemporaryDirectory(prefix="xorb-act-") as work:
        try:
            data = wf.prove(reports / "workflows", Path(work), prune)
        except XorbError as exc:
            session.error(str(exc))
    (reports / "workflows.json").write_text(json.dumps(data, indent=2) + "\n")
    for row in data["runs"]:
        session.log(
            f"{row['job']}: {'passed' if row['ok'] else 'FAILED'} in {row['job_seconds']} s; "
            f"build {row['build_seconds']} s, {row['cached_steps']}/{row['total_steps']} cached"
        )
    trip = data["gha_round_trip"]
    session.log(
        f"gha cache: {trip['first_cached_steps']} cached steps cold, "
        f"{trip['second_cached_steps']} after the import; build {trip['first_build_seconds']} s "
        f"-> {trip['second_build_seconds']} s; {data['gha_cache_mb']} MB in act's cache server"
    )
