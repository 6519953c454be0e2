"""How a build shows its progress: a compact live view on a terminal, plain lines elsewhere.

BuildKit's plain progress (what every build asks buildx for, so the steps can be counted)
is several hundred lines for a cold build of the three images. On a terminal
:class:`Display` turns it into one line per image, its current step and how many of its
steps have run, redrawn in place and removed when the build ends (the
summary table follows). Piped, in CI or with ``--progress plain`` the lines pass through as
BuildKit wrote them; ``quiet`` prints nothing. A failed build's last lines are printed
either way by the caller.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from rich.console import Console
from rich.live import Live
from rich.table import Table

Mode = Literal["auto", "tty", "plain", "quiet"]
MODES: tuple[Mode, ...] = ("auto", "tty", "plain", "quiet")
_VERTEX = re.compile(r"^#(\d+) \[(?:(\S+) )?([^\]]*)\] (.*)$")
_ERROR = re.compile(r"^#(\d+) ERROR")


def resolve(mode: str, stream: object = None) -> Mode:
    """``auto`` becomes ``tty`` on a terminal and ``plain`` elsewhere; others stay."""
    if mode not in MODES:
        raise ValueError(mode)
    if mode in ("tty", "plain", "quiet"):
        return mode
    out = stream if stream is not None else sys.stderr
    return "tty" if getattr(out, "isatty", lambda: False)() else "plain"


@dataclass
class _Target:
    step: str = "waiting"
    failed: bool = False


Counts = Callable[[str], tuple[int, int]]  # target -> (steps not run, steps)


class Display:
    """Feed it BuildKit's plain progress lines; it shows them as ``mode`` says.

    The step counts come from ``counts`` (the build's own step counter), so the live line
    and the summary table count the same steps the same way.
    """

    def __init__(
        self, targets: Sequence[str], mode: str = "auto", counts: Counts | None = None
    ) -> None:
        self.mode = resolve(mode)
        self.targets = {name: _Target() for name in targets}
        self.counts = counts
        self._owner: dict[str, str] = {}  # vertex id -> target, for the build's own steps
        self._console = Console(stderr=True, highlight=False)
        self._live: Live | None = None

    def __enter__(self) -> Display:
        if self.mode == "tty":
            self._live = Live(
                self._render(), console=self._console, transient=True, refresh_per_second=8
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, value, tb)
            self._live = None

    def feed(self, line: str) -> None:
        """One line of BuildKit's plain progress."""
        if self.mode == "plain":
            print(line, file=sys.stderr, flush=True)
            return
        if self.mode != "tty":
            return
        if m := _VERTEX.match(line):
            vid, first, stage, text = m.groups()
            name = first if first in self.targets else next(iter(self.targets), "")
            internal = "internal" in stage or text.startswith("load ")
            if vid not in self._owner and name and not internal:
                self._owner[vid] = name
                self.targets[name].step = f"[{stage}] {text}"[:90]
        elif (m := _ERROR.match(line)) and m.group(1) in self._owner:
            self.targets[self._owner[m.group(1)]].failed = True
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Table:
        grid = Table.grid(padding=(0, 2))
        for name, t in self.targets.items():
            if t.failed:
                state = "[red]failed[/red]"
            elif self.counts is not None:
                not_run, total = self.counts(name)
                state = f"{total - not_run}/{total} steps run"
            else:
                state = ""
            grid.add_row(f"[bold]{name}[/bold]", state, t.step)
        return grid


_NUMBERED = re.compile(r"^#(\d+) (.*)$", re.S)


class Merge:
    """Plain progress of several buildx processes, one per target, as one bake's.

    Each process numbers its vertices from 1, so ``#5`` means a different step in each.
    :meth:`line` gives every (target, vertex) a number of its own and names the target in
    the step's brackets, as bake does for its targets: the merged log reads, and is
    counted, exactly like the log of one bake of all the targets.
    """

    def __init__(self, targets: Sequence[str]) -> None:
        self.targets = set(targets)
        self._ids: dict[tuple[str, str], int] = {}

    def line(self, target: str, line: str) -> str:
        """``line`` as printed by ``target``'s process, renumbered and named."""
        m = _NUMBERED.match(line)
        if m is None:
            return line
        vid, rest = m.groups()
        new = self._ids.setdefault((target, vid), len(self._ids) + 1)
        if rest.startswith("[") and rest[1:].split(" ", 1)[0] not in self.targets:
            rest = f"[{target} {rest[1:]}"
        return f"#{new} {rest}"
