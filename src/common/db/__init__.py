"""Database access: SQLAlchemy 2 engine and sessions, typed models, idempotent writes."""

from common.db.engine import create_db_engine, session_factory
from common.db.models import Base, JobResult, WorkflowRun
from common.db.repository import (
    get_job_result,
    record_job_failed,
    record_job_finished,
    record_job_started,
    upsert_workflow_run,
)

__all__ = [
    "Base",
    "JobResult",
    "WorkflowRun",
    "create_db_engine",
    "get_job_result",
    "record_job_failed",
    "record_job_finished",
    "record_job_started",
    "session_factory",
    "upsert_workflow_run",
]
