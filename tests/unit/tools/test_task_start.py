"""Tasks start fast: their modules load the logic on first use (`tasks._util.lazy`)."""

from __future__ import annotations

import inspect
import subprocess
import sys

from xorb_tools.deploy import bluegreen, stack
from xorb_tools.github import actions
from xorb_tools.quality import scan
from xorb_tools.tasks import deploy, report, workflows
from xorb_tools.tasks import stack as stack_tasks

HEAVY = ("python_on_whales", "pydantic", "httpx", "docker", "rich.progress")


def test_listing_the_tasks_imports_none_of_the_heavy_libraries() -> None:
    code = (
        "import sys; from xorb_tools.tasks import namespace; namespace(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"loaded at start: {out.stdout.strip()}"


def _default(task: object, name: str) -> object:
    return inspect.signature(task.body).parameters[name].default  # type: ignore[attr-defined]


def test_literal_defaults_match_the_constants_they_stand_for() -> None:
    assert _default(deploy.deploy, "timeout") == stack.WAIT_TIMEOUT
    assert _default(deploy.deploy, "drain") == bluegreen.DRAIN_SECONDS
    assert _default(deploy.rollback, "timeout") == bluegreen.TIMEOUT
    assert _default(deploy.rollback, "drain") == bluegreen.DRAIN_SECONDS
    assert _default(stack_tasks.up, "timeout") == stack.WAIT_TIMEOUT
    assert _default(report.security_scan, "severity") == scan.DEFAULT_SEVERITY
    assert _default(report.security_scan, "cache_dir") == str(scan.DEFAULT_CACHE)
    assert _default(workflows.refresh_actions, "source") == actions.DEFAULT_SOURCE
