"""The deploy history: one JSON line per deploy, printed by ``inv deploy.history``.

Deploy state (this log, the live blue-green colour) lives in one directory,
``XORB_STATE_DIR`` or ``.cache/deploy`` in the repository, so it survives the task that
wrote it. Appends are a single ``write`` of one line to a file opened with ``O_APPEND``,
which keeps concurrent deploys from interleaving records.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from xorb_tools.core import services
from xorb_tools.core.errors import XorbError

LOG_NAME = "deploy-log.jsonl"


def state_dir(*, create: bool = True) -> Path:
    """Where deploy state lives (``XORB_STATE_DIR``, default ``.cache/deploy``); created
    unless ``create`` is false."""
    configured = os.environ.get("XORB_STATE_DIR")
    path = Path(configured) if configured else services.ROOT / ".cache" / "deploy"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def now() -> str:
    """The current time as ISO-8601 UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Record:
    """One deploy: when, where, how, what (image digests) and how it ended."""

    time: str
    environment: str
    strategy: str
    engine: str
    version: str
    digests: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"
    detail: str = ""


def log_path() -> Path:
    return state_dir() / LOG_NAME


def append(record: Record) -> None:
    """Add ``record`` to the log as one JSON line."""
    line = (json.dumps(asdict(record), sort_keys=True) + "\n").encode()
    fd = os.open(log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read(environment: str | None = None) -> list[Record]:
    """Every record (of ``environment``), oldest first; a damaged log is one sentence."""
    path = log_path()
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = Record(**json.loads(line))
        except (ValueError, TypeError) as exc:
            raise XorbError(
                f"The deploy log {path} is damaged at line {number} ({exc}): fix or remove "
                "that line."
            ) from None
        if environment is None or record.environment == environment:
            records.append(record)
    return records
