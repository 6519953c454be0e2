"""The container test suite (``xorb_tools.quality.structure``) against the real images.

Each category runs as its own test on our images; then the suite's CLI proves that breaking
one property (an image that runs as root, an image over its budget) turns exactly that
category to FAIL and the exit code non-zero.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from python_on_whales.exceptions import DockerException

from xorb_tools.core import engine, services
from xorb_tools.core.services import ROOT
from xorb_tools.quality import structure

pytestmark = pytest.mark.docker

NAMES = [c.name for c in structure.CATEGORIES]


@pytest.fixture(scope="module")
def ctx() -> Iterator[structure.Context]:
    try:
        engine.require_daemon()
    except Exception as exc:
        pytest.exit(f"the structure suite needs a Docker engine: {exc}", returncode=1)
    with structure.Context(structure.Options()) as context:
        yield context


@pytest.mark.parametrize("check", structure.CATEGORIES, ids=NAMES)
def test_category_passes_on_our_images(ctx: structure.Context, check: structure.Category) -> None:
    result = check(ctx)
    assert result.name == check.name
    assert result.passed, "\n".join([f"{check.name} failed:", *result.lines])


@dataclass(frozen=True)
class Suite:
    """A finished ``python -m xorb_tools.quality.structure`` run."""

    code: int
    out: str

    def status(self) -> dict[str, str]:
        """Category -> PASS/FAIL from the results block."""
        found: dict[str, str] = {}
        for line in self.out.splitlines():
            for word in ("PASS", "FAIL"):
                prefix = f"{'✅' if word == 'PASS' else '❌'} {word} - "
                if line.strip().startswith(prefix):
                    found[line.strip().removeprefix(prefix)] = word
        return found


def run_suite(*args: str) -> Suite:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_ON_WHALES_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "xorb_tools.quality.structure", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return Suite(proc.returncode, proc.stdout + proc.stderr)


def assert_only_fails(suite: Suite, failing: str) -> None:
    status = suite.status()
    assert list(status) == NAMES, suite.out
    assert status[failing] == "FAIL", suite.out
    others = {name: word for name, word in status.items() if name != failing}
    assert set(others.values()) == {"PASS"}, f"only {failing} may fail:\n{suite.out}"
    assert f"🎯 Summary: {len(NAMES) - 1}/{len(NAMES)} tests passed" in suite.out
    assert "All container tests passed" not in suite.out
    assert suite.code != 0


@pytest.fixture
def root_image() -> Iterator[str]:
    """``<namespace>/api:structure-root``: the production API image switched to root."""
    client = engine.client()
    api = services.load().service("api")
    svc_ref, tag = api.ref("production"), api.ref("structure-root")
    with tempfile.TemporaryDirectory(prefix="xorb-structure-root-") as folder:
        context = Path(folder)
        (context / "Dockerfile").write_text(f"FROM {svc_ref}\nUSER 0:0\n")
        client.buildx.build(context, tags=[tag], load=True, progress=False)
    try:
        yield tag
    finally:
        with contextlib.suppress(DockerException):
            client.image.remove(tag, force=True)


def test_an_image_running_as_root_fails_exactly_container_security(root_image: str) -> None:
    tag = root_image.rsplit(":", 1)[1]
    suite = run_suite("--service", "api", "--image-tag", tag, "--skip-build")
    assert_only_fails(suite, "Container Security")
    assert "❌ api: image user is 0:0, not UID 1000" in suite.out
    assert "❌ api: a container runs as UID 0, not 1000" in suite.out


def test_an_image_over_its_budget_fails_exactly_size_analysis() -> None:
    suite = run_suite("--service", "api", "--budget", "api=10", "--skip-build")
    assert_only_fails(suite, "Size Analysis")
    assert "is over its budget of 10 MB" in suite.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "api=lots"], "error: Bad --budget 'api=lots': write SERVICE=MB"),
        (["--budget", "nope=10"], "error: Unknown service 'nope': choose from api"),
        (["--service", "nope"], "error: Unknown service 'nope': choose from api"),
    ],
)
def test_bad_usage_exits_2_in_one_line(args: list[str], message: str) -> None:
    suite = run_suite(*args, "--skip-build")
    assert suite.code == 2, suite.out
    lines = suite.out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), suite.out
