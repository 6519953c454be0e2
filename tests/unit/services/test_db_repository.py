from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from common.db import (
    Base,
    create_db_engine,
    get_job_result,
    record_job_failed,
    record_job_finished,
    record_job_started,
    session_factory,
    upsert_workflow_run,
)
from common.db.models import WorkflowRun


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_db_engine("sqlite://")
    Base.metadata.create_all(engine)
    with session_factory(engine)() as db:
        yield db
    engine.dispose()


def test_job_rows_are_upserted(session: Session) -> None:
    assert record_job_started(session, "j1", "kind", {"text": "a"}, "w1") == 1
    record_job_failed(session, "j1", "boom")
    assert record_job_started(session, "j1", "kind", {"text": "a"}, "w2") == 2
    record_job_finished(session, "j1", {"words": 1})
    row = get_job_result(session, "j1")
    assert row is not None
    assert (row.status, row.attempts, row.result, row.error, row.worker) == (
        "finished",
        2,
        {"words": 1},
        None,
        "w2",
    )
    assert get_job_result(session, "missing") is None


def test_workflow_runs_are_upserted(session: Session) -> None:
    upsert_workflow_run(session, "wf", "completed", {"text": "a"}, {"n": 1})
    upsert_workflow_run(session, "wf", "completed", {"text": "a"}, {"n": 2})
    rows = session.query(WorkflowRun).all()
    assert len(rows) == 1
    assert rows[0].result == {"n": 2}


@pytest.mark.image("api")  # Alembic ships only in the API image, which runs the migration
def test_migrations_are_importable() -> None:
    from common.db.migrate import MIGRATIONS, alembic_config

    assert (MIGRATIONS / "env.py").is_file()
    assert alembic_config().get_main_option("script_location") == str(MIGRATIONS)
