"""The tasks' fixed start-up cost, beside a bare interpreter (``inv bench``).

Every ``uv run inv ...`` pays uv's own start, the interpreter's, invoke's, loading
``tasks.py`` and the namespace before the task does anything. The figure is the median of
``uv run inv --list`` minus ``uv run python -c pass``, measured pair by pair in alternation
(so host noise hits both), with the bare interpreter as the baseline column.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from xorb_tools.bench.report import Figure, Target

TARGET_S = 1.0


def _seconds(argv: list[str], cwd: Path) -> float:
    started = time.monotonic()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=True)
    return time.monotonic() - started


def figure(root: Path, pairs: int) -> Figure:
    """Measure ``pairs`` alternated pairs in the checkout ``root`` (after one warm-up each)."""
    inv = ["uv", "run", "--quiet", "inv", "--list"]
    bare = ["uv", "run", "--quiet", "python", "-c", "pass"]
    _seconds(inv, root), _seconds(bare, root)  # warm uv's and the OS's caches
    overheads: list[float] = []
    bares: list[float] = []
    for _ in range(pairs):
        with_tasks, plain = _seconds(inv, root), _seconds(bare, root)
        overheads.append(with_tasks - plain)
        bares.append(plain)
    return Figure(
        "task_start",
        "Task start-up overhead (`uv run inv --list` minus `uv run python -c pass`)",
        "s",
        overheads,
        bares,
        baseline_label="bare interpreter",
        target=Target("at_most", TARGET_S, f"≤ {TARGET_S:g} s"),
    )
