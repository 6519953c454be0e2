from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from common.db import Base, create_db_engine, get_job_result, session_factory
from worker import jobs
from worker.runner import XorbWorker


@pytest.fixture
def sqlite_sessions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> sessionmaker[Session]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    factory = session_factory(engine)
    monkeypatch.setattr(jobs, "sessions", lambda: factory)
    return factory


def test_analyse() -> None:
    result = jobs.analyse("Hello hello world\nbye")
    assert result["words"] == 4
    assert result["unique_words"] == 3
    assert result["lines"] == 2
    assert result["top_words"][0] == ["hello", 2]


def test_process_text_retries_then_succeeds(sqlite_sessions: sessionmaker[Session]) -> None:
    payload: dict[str, Any] = {"text": "a b", "duration": 0, "fail_times": 1}
    with pytest.raises(jobs.SimulatedFailure):
        jobs.process_text(payload)
    result = jobs.process_text(payload)
    assert result["attempt"] == 2
    with sqlite_sessions() as session:
        row = get_job_result(session, "local")
        assert row is not None
        assert (row.status, row.attempts) == ("finished", 2)


def test_heartbeat_ttl_is_short() -> None:
    worker = XorbWorker.__new__(XorbWorker)
    worker.job_monitoring_interval = 1
    worker.heartbeat_grace = 2
    assert worker.get_heartbeat_ttl(None, 0.0) == 3  # type: ignore[arg-type]


def test_memory_limit_stops_the_worker() -> None:
    worker = XorbWorker.__new__(XorbWorker)
    worker.name = "w"
    worker._stop_requested = False
    worker.memory_exceeded = False
    worker.max_memory = 1  # any process is over one byte
    worker.check_memory()
    assert worker.memory_exceeded
    assert worker._stop_requested
    worker.max_memory = 1 << 50
    worker.memory_exceeded = False
    worker.check_memory()
    assert not worker.memory_exceeded
