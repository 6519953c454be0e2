"""Shared plumbing for tasks: user errors become ``Exit`` messages, tables print alike."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from invoke.exceptions import Exit
from rich.console import Console
from rich.table import Table

from xorb_tools.errors import XorbError

P = ParamSpec("P")
R = TypeVar("R")

# Wide enough for digests and paths when output goes to a file or CI log.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`XorbError` into ``Exit(message, 1)``: one sentence, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except XorbError as exc:
            raise Exit(f"error: {exc}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print one table."""
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*(str(c) for c in row))
    console.print(t)


def split_names(values: Sequence[str] | None) -> tuple[str, ...]:
    """``--service a --service b,c`` -> ``("a", "b", "c")``."""
    out: list[str] = []
    for value in values or []:
        out += [v.strip() for v in value.split(",") if v.strip()]
    return tuple(out)
