"""``inv doctor``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools.quality import doctor as checks
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    checks = lazy("xorb_tools.quality.doctor")
from xorb_tools.core import services
from xorb_tools.tasks._util import table, user_errors

MARK = {"ok": "ok", "warning": "warning", "missing": "MISSING", "skipped": "skipped"}


@task()
@user_errors
def doctor(c: Context) -> None:
    """Check the toolchain: engine, buildx, compose, base image, registry, CA bundle."""
    results = checks.run(services.load())
    table(
        "XORB toolchain",
        ["check", "status", "detail", "remedy"],
        [(r.name, MARK[r.status], r.detail, r.remedy) for r in results],
    )
    failed = checks.blocking_failures(results)
    if failed:
        names = ", ".join(f.name for f in failed)
        raise Exit(f"error: missing {names}: {failed[0].remedy}.", code=1)
