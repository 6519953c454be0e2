"""Shared plumbing for tasks: user errors become ``Exit`` messages, tables print alike."""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

from invoke.exceptions import Exit
from rich.console import Console
from rich.table import Table

from xorb_tools.core.errors import XorbError

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


def lazy(name: str) -> ModuleType:
    """``name`` imported on first use, not now.

    The task modules load their logic through it: ``inv --list``, ``--help`` and every task's
    start pay only for invoke, not for python-on-whales, pydantic, httpx or docker-py (about
    0.6 s of the 0.9 s an eager import took here; ``inv bench`` measures the start-up).
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"No module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


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
