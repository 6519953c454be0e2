from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from common.db import Base, create_db_engine, get_job_result, session_factory
from worker import jobs, runner
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


class _Flaky:
    """A session factory whose first ``failures`` sessions find the database away."""

    def __init__(self, real: sessionmaker[Session], failures: int) -> None:
        self.real = real
        self.failures = failures
        self.calls = 0

    def __call__(self) -> Session:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database away"))
        return self.real()


def test_a_result_write_waits_for_the_database(
    sqlite_sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = _Flaky(sqlite_sessions, failures=3)
    monkeypatch.setattr(jobs, "sessions", lambda: flaky)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    result = jobs.process_text({"text": "a b", "duration": 0})
    assert result["attempt"] == 1
    assert flaky.calls == 3 + 2  # three refusals, then the start and the finish
    with sqlite_sessions() as session:
        row = get_job_result(session, "local")
        assert row is not None and row.status == "finished"


def test_a_result_write_gives_up_after_the_retry_timeout(
    sqlite_sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_DB_RETRY_TIMEOUT", "0")
    monkeypatch.setattr(jobs, "sessions", lambda: _Flaky(sqlite_sessions, failures=1))
    with pytest.raises(OperationalError):
        jobs.process_text({"text": "a b", "duration": 0})


def test_a_bad_statement_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def broken(session: Session) -> None:
        calls.append(1)
        raise ProgrammingError("SELECT nope", {}, Exception("syntax error"))

    monkeypatch.setattr(jobs, "sessions", lambda: lambda: nullcontext(None))
    with pytest.raises(ProgrammingError):
        jobs.write(broken, "job")
    assert calls == [1]


def test_the_memory_watchdog_hands_the_job_back_and_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = XorbWorker.__new__(XorbWorker)
    worker.name = "w"
    worker.max_memory = 1  # any process is over one byte
    handed_back: list[str] = []
    exits: list[int] = []
    monkeypatch.setattr(
        worker, "handle_job_failure", lambda job, queue, **kw: handed_back.append(kw["exc_string"])
    )
    monkeypatch.setattr("os._exit", exits.append)
    job = SimpleNamespace(id="j1")
    worker._give_up_for_memory(job, None, None, 2)  # type: ignore[arg-type]
    assert exits == [runner.EXIT_MEMORY]
    assert "WORKER_MAX_MEMORY" in handed_back[0]
