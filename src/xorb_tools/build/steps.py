"""BuildKit's plain progress, read as it streams: which of each target's steps this build ran
(against totals counted from the Dockerfile), and the cache exports that failed."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence

from xorb_tools.build import progress

_VERTEX = re.compile(r"^#(\d+) \[(?:(\S+) )?([^\]]*)\]")
_CACHED = re.compile(r"^#(\d+) CACHED")
_DONE = re.compile(r"^#(\d+) DONE")
_EXPORT = re.compile(r"^#(\d+) exporting (?:to GitHub Actions Cache|cache to )")
_ERROR = re.compile(r"^#(\d+) ERROR: (.*)")


class StepCounter:
    """Which of each target's build steps this build ran, from BuildKit's plain progress.

    ``totals`` holds every target's steps per stage, counted from the Dockerfile
    (:func:`dockerfile.needed`), so a target's total is the same in every run; the rest of
    its steps came from a cache, or were not needed because a later step was. A vertex bake
    shares between targets counts for each target whose stages include it.
    """

    def __init__(
        self,
        names: Sequence[str],
        default: str | None,
        totals: dict[str, dict[str, int]],
        per_target: set[str] | None = None,
    ) -> None:
        self.names = set(names)
        self.default = default
        self.totals = totals
        self.per_target = per_target or set()
        self.vertex: dict[str, tuple[str | None, str, str]] = {}  # id -> target, stage, k/M
        self.cached: set[str] = set()
        self.ran: set[str] = set()
        self.exports: set[str] = set()
        self.export_errors: list[str] = []

    def feed(self, line: str) -> None:
        if m := _EXPORT.match(line):
            self.exports.add(m.group(1))
        elif (m := _ERROR.match(line)) and m.group(1) in self.exports:
            # ignore-error=true: the build succeeds without its cache; say so, once
            self.export_errors.append(m.group(2).strip())
        elif m := _VERTEX.match(line):
            vid, words = m.group(1), f"{m.group(2) or ''} {m.group(3)}".split()
            target = words.pop(0) if words and words[0] in self.names else self.default
            if vid not in self.vertex and len(words) == 2 and "/" in words[1]:
                self.vertex[vid] = (target, words[0], words[1])
        elif m := _CACHED.match(line):
            self.cached.add(m.group(1))
        elif (m := _DONE.match(line)) and m.group(1) not in self.cached:
            self.ran.add(m.group(1))

    def counts(self, name: str) -> tuple[int, int]:
        """(steps not run, steps) for target ``name``."""
        stages = self.totals.get(name, {})
        total = sum(stages.values())
        ran = {
            (st, k)
            for vid in self.ran
            if vid in self.vertex
            for t, st, k in [self.vertex[vid]]
            if st in stages and (t in (name, None) or st not in self.per_target)
        }
        return max(total - len(ran), 0), total


def stream_progress(
    lines: Iterator[str], counter: StepCounter, show: str, tail: list[str], names: Sequence[str]
) -> None:
    with progress.Display(names, show, counter.counts) as display:
        for raw in lines:
            line = raw.rstrip("\n")
            counter.feed(line)
            tail.append(line)
            del tail[:-25]
            display.feed(line)
    warn_export_errors(counter)


def warn_export_errors(counter: StepCounter) -> None:
    if counter.export_errors:
        print(
            f"build: the images are built, but their cache export failed "
            f"({counter.export_errors[0][:200]}): the next build will not find it",
            file=sys.stderr,
            flush=True,
        )
