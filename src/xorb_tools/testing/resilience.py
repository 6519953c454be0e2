"""``reports/resilience.json``: what the resilience suite measured, one entry per test.

:func:`start_run` begins a run: the last report is kept as ``resilience.previous.json`` and a
fresh one is written. Each test then merges its figures with :func:`record` (a fault: failed
requests, lost jobs, recovery time, details) or :func:`record_load` (a load run's summary,
compared with the same run in the previous report). Writes are atomic (a temporary file
renamed over the report), so a crashed run leaves a readable file.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xorb_tools.core import services

REPORT = services.reports_dir() / "resilience.json"
COMPARED = ("rps", "p50_ms", "p95_ms", "p99_ms", "failed")
"""Load figures compared with the previous report."""


@dataclass(frozen=True)
class Fault:
    """What one injected fault cost: nothing lost is the goal."""

    failed_requests: int = 0
    lost_jobs: int = 0
    recovery_seconds: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def previous_path(path: Path = REPORT) -> Path:
    return path.with_name(f"{path.stem}.previous{path.suffix}")


def read(path: Path = REPORT) -> dict[str, Any]:
    """The report at ``path``; empty when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(data: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def start_run(path: Path = REPORT, **context: object) -> dict[str, Any]:
    """Keep the last report as ``*.previous.json`` and write an empty one for this run."""
    if path.is_file():
        shutil.copy2(path, previous_path(path))
    data: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"machine": platform.machine(), "cpus": os.cpu_count()},
        "context": dict(context),
        "faults": {},
        "load": {},
        "comparison": {},
    }
    _write(data, path)
    return data


def _merge(section: str, name: str, value: Mapping[str, Any], path: Path) -> dict[str, Any]:
    data = read(path) or start_run(path)
    data.setdefault(section, {})[name] = dict(value)
    _write(data, path)
    return data


def record(name: str, fault: Fault, path: Path = REPORT) -> None:
    """Merge one fault test's figures into the report."""
    _merge("faults", name, asdict(fault), path)


def compare(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """``{figure: {previous, current, ratio}}`` for the figures both runs have."""
    out: dict[str, Any] = {}
    for key in COMPARED:
        now, before = current.get(key), previous.get(key)
        if not isinstance(now, int | float) or not isinstance(before, int | float):
            continue
        ratio = round(now / before, 3) if before else None
        out[key] = {"previous": before, "current": now, "ratio": ratio}
    return out


def record_load(name: str, summary: Mapping[str, Any], path: Path = REPORT) -> dict[str, Any]:
    """Merge a load run's summary and its comparison with the previous report's; returns
    the comparison (empty when there is no previous figure)."""
    data = _merge("load", name, summary, path)
    before = read(previous_path(path)).get("load", {}).get(name)
    comparison = compare(summary, before) if isinstance(before, dict) else {}
    data.setdefault("comparison", {})[name] = comparison
    _write(data, path)
    return comparison
