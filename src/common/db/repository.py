"""Idempotent writes: every function is an upsert keyed by the job or workflow id, so a job
that is run again (retry, or recovery after its worker was killed) never duplicates a row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from common.db.models import JobResult, WorkflowRun, utcnow


def _insert(session: Session, table: Any) -> Any:
    """A dialect insert that supports ``on_conflict_do_update`` (PostgreSQL; SQLite in tests)."""
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def record_job_started(
    session: Session, job_id: str, kind: str, payload: dict[str, Any], worker: str | None
) -> int:
    """Mark a job running and count the attempt; returns the attempt number (1 = first)."""
    stmt = _insert(session, JobResult).values(
        job_id=job_id, kind=kind, status="started", attempts=1, payload=payload, worker=worker
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[JobResult.job_id],
        set_={
            "status": "started",
            "attempts": JobResult.attempts + 1,
            "worker": worker,
            "error": None,
            "updated_at": utcnow(),
        },
    ).returning(JobResult.attempts)
    attempts = session.execute(stmt).scalar_one()
    session.commit()
    return int(attempts)


def record_job_finished(session: Session, job_id: str, result: dict[str, Any]) -> None:
    now = utcnow()
    session.query(JobResult).filter(JobResult.job_id == job_id).update(
        {
            "status": "finished",
            "result": result,
            "error": None,
            "updated_at": now,
            "finished_at": now,
        }
    )
    session.commit()


def record_job_failed(session: Session, job_id: str, error: str) -> None:
    session.query(JobResult).filter(JobResult.job_id == job_id).update(
        {"status": "failed", "error": error[:2000], "updated_at": utcnow()}
    )
    session.commit()


def get_job_result(session: Session, job_id: str) -> JobResult | None:
    return session.execute(select(JobResult).where(JobResult.job_id == job_id)).scalar_one_or_none()


def upsert_workflow_run(
    session: Session,
    workflow_id: str,
    status: str,
    input_data: dict[str, Any],
    result: dict[str, Any] | None,
) -> None:
    stmt: Insert = _insert(session, WorkflowRun).values(
        workflow_id=workflow_id, status=status, input=input_data, result=result
    )
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[WorkflowRun.workflow_id],
        set_={"status": status, "result": result, "updated_at": utcnow()},
    )
    session.execute(stmt)
    session.commit()
