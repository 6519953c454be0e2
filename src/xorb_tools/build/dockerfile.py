"""The Dockerfile's stages: which ones a target needs, and how many build steps each has.

A "step" is what BuildKit numbers in its progress (``[production 2/3] COPY ...``): every
RUN, COPY, ADD and WORKDIR, and a FROM of an image (not of another stage, not scratch).
Counted from the file, a target's steps are the same in every run, so the build summary's
"cached steps" means one thing whether BuildKit had to report a step or not: the steps this
build did not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_STEP = {"RUN", "COPY", "ADD", "WORKDIR"}
_FROM = re.compile(r"^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.I)
_USES = re.compile(r"--(?:from|mount=[^\s]*?\bfrom)=([\w.-]+)")


@dataclass
class Stage:
    """One ``FROM ... AS name`` block."""

    name: str
    parent: str
    steps: int = 0
    uses: set[str] = field(default_factory=set)  # stages copied or mounted from
    args: set[str] = field(default_factory=set)  # build arguments it declares


def _instructions(text: str) -> list[str]:
    """The file's instructions, continuation lines joined, comments and blanks dropped."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    return out


def stages(path: Path) -> dict[str, Stage]:
    """Every named stage of the Dockerfile at ``path``, in order."""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in _instructions(path.read_text()):
        keyword = instruction.split(None, 1)[0].upper()
        if m := _FROM.match(instruction):
            parent, name = m.group(1), m.group(2) or f"stage-{len(found)}"
            current = found[name] = Stage(name, parent)
            if parent not in found and parent != "scratch":
                current.steps += 1  # BuildKit reports pulling or loading the image
        elif current is not None and keyword in _STEP:
            current.steps += 1
            current.uses |= set(_USES.findall(instruction))
        elif current is not None and keyword == "ARG":
            current.args.add(instruction.split()[1].split("=")[0])
    return found


def needed(path: Path, target: str) -> dict[str, int]:
    """The stages ``target`` needs (itself, parents, stages copied or mounted from) and
    their step counts."""
    all_stages = stages(path)
    out: dict[str, int] = {}
    pending = [target]
    while pending:
        name = pending.pop()
        stage = all_stages.get(name)
        if stage is None or name in out:
            continue
        out[name] = stage.steps
        pending += [stage.parent, *stage.uses]
    return out


def per_target(path: Path, varying: set[str]) -> set[str]:
    """The stages whose result differs between targets built with different values of the
    ``varying`` build arguments: those declaring one, and every stage built on or copying
    from such a stage. The others are one vertex that a bake builds once for all targets."""
    all_stages = stages(path)
    specific = {name for name, st in all_stages.items() if st.args & varying}
    changed = True
    while changed:
        changed = False
        for name, st in all_stages.items():
            if name not in specific and ({st.parent} | st.uses) & specific:
                specific.add(name)
                changed = True
    return specific
