"""What a category is: a function that records results in a report, made a :class:`Category`
by :func:`category` (which never raises: a failure is a failed result). The suite's list, in
the guide's order, is :data:`xorb_tools.quality.structure.categories.CATEGORIES`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from python_on_whales.exceptions import DockerException

from xorb_tools.core.errors import XorbError
from xorb_tools.quality.structure.base import (
    Report,
    Result,
)
from xorb_tools.quality.structure.context import Context


@dataclass(frozen=True)
class Category:
    """One category of the suite: ``category(ctx)`` runs it and never raises."""

    name: str
    body: Callable[[Context, Report], None]

    def __call__(self, ctx: Context) -> Result:
        report = Report(self.name, ctx.echo)
        started = time.monotonic()
        try:
            self.body(ctx, report)
        except XorbError as exc:
            report.fail(str(exc).replace("\n", "\n     "))
        except DockerException as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
            report.fail(f"docker exit {exc.return_code}: {' | '.join(detail)}")
        except Exception as exc:  # one category never stops the others
            report.fail(f"{type(exc).__name__}: {exc}")
        report.info(f"⏱️  {time.monotonic() - started:.1f}s")
        return report.result()


def category(name: str) -> Callable[[Callable[[Context, Report], None]], Category]:
    """Make a check a category named ``name``."""

    def wrap(body: Callable[[Context, Report], None]) -> Category:
        return Category(name, body)

    return wrap
