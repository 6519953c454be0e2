"""``inv workflows.*``: run GitHub Actions jobs here with act, and refresh the pinned actions."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from xorb_tools.core import services
from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools.github import actions
    from xorb_tools.github import workflows as wf
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    actions = lazy("xorb_tools.github.actions")
    wf = lazy("xorb_tools.github.workflows")
from xorb_tools.core.errors import XorbError
from xorb_tools.tasks._util import console, user_errors


@task(
    positional=[],
    iterable=["matrix"],
    help={
        "job": "the job's id in the workflow (e.g. security-scan); act runs its needs: first",
        "matrix": "one matrix value, key:value (repeatable), e.g. service:api",
        "workflow": "the workflow file (default .github/workflows/ci.yml)",
    },
)
@user_errors
def run(c: Context, job: str, matrix: list[str] | None = None, workflow: str | None = None) -> None:
    """Run one job of a workflow on this host with act, offline (reports/workflows/<job>/)."""
    values: dict[str, str] = {}
    for item in matrix or []:
        key, sep, value = item.partition(":")
        if not sep or not key or not value:
            raise XorbError(f"--matrix {item!r}: write it as key:value, e.g. service:api.")
        values[key] = value
    target = wf.Job(job or "", values, Path(workflow).resolve() if workflow else wf.CI)
    reports = services.reports_dir() / "workflows"
    with tempfile.TemporaryDirectory(prefix="xorb-act-") as work:
        result = wf.run(target, work=Path(work), cache_server=Path(work) / "cache", reports=reports)
    if not result.ok:
        raise Exit(f"error: {wf.failure(result)}", code=1)
    console.print(f"{result.name}: passed in {result.seconds:.0f} s (log: {result.log})")


@task(
    help={
        "source": "where to fetch each action's repository; {repo} is owner/name "
        "(default https://github.com/{repo}.git)",
    }
)
@user_errors
def refresh_actions(c: Context, source: str = "https://github.com/{repo}.git") -> None:
    """Copy each pinned action into third_party/actions, checking the pin is its tag's commit."""
    for line in actions.refresh(source):
        console.print(line)
    problems = actions.verify()
    if problems:
        raise Exit(f"error: {problems[0]}", code=1)


def collection() -> Collection:
    """``workflows.run``, ``workflows.refresh-actions``."""
    return Collection("workflows", run, refresh_actions)
