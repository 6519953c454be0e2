"""The jobs the worker runs. Every write is an upsert keyed by the job id, so running a job
again (retry, or recovery after its worker was killed) is harmless.

A write that finds PostgreSQL away (stopped, restarting, unreachable) is retried with
back-off for up to ``WORKER_DB_RETRY_TIMEOUT`` seconds instead of failing the job: an outage
shorter than that delays the job, it does not spend its retries or lose its result.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from rq import get_current_job
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from common.config_manager import get_config
from common.contracts import JOB_KIND
from common.db import (
    create_db_engine,
    record_job_failed,
    record_job_finished,
    record_job_started,
    session_factory,
)
from common.log import get_logger

log = get_logger("worker.jobs")
_WORD = re.compile(r"[\w']+", re.UNICODE)
T = TypeVar("T")
MB = 1024 * 1024


class SimulatedFailure(RuntimeError):
    """Raised for the first ``fail_times`` attempts of a job (exercises RQ retries)."""


@lru_cache(maxsize=1)
def sessions() -> sessionmaker[Session]:
    """One engine per worker process, created after the fork."""
    return session_factory(create_db_engine(get_config().database))


def analyse(text: str) -> dict[str, Any]:
    words = [w.lower() for w in _WORD.findall(text)]
    return {
        "characters": len(text),
        "words": len(words),
        "lines": text.count("\n") + 1 if text else 0,
        "unique_words": len(set(words)),
        "top_words": [[w, n] for w, n in Counter(words).most_common(5)],
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def _unavailable(exc: DBAPIError) -> bool:
    """The database is away (as opposed to a bad statement)."""
    return isinstance(exc, OperationalError) or bool(exc.connection_invalidated)


def write(action: Callable[[Session], T], job_id: str) -> T:
    """Run ``action`` in a session; while PostgreSQL is away, retry with back-off up to the
    configured timeout (the job's heartbeat keeps running meanwhile)."""
    deadline = time.monotonic() + get_config().worker.db_retry_timeout
    delay = 0.5
    while True:
        try:
            with sessions()() as session:
                return action(session)
        except DBAPIError as exc:
            if not _unavailable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable, retrying", job_id=job_id, retry_in=delay)
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def process_text(payload: dict[str, Any]) -> dict[str, Any]:
    """Analyse ``payload["text"]`` after ``duration`` seconds of simulated work.

    ``fail_times`` fails the first N attempts (RQ retries); ``ballast_mb`` holds that much
    memory during the first attempt (exercises ``WORKER_MAX_MEMORY``; not in the public API).
    """
    job = get_current_job()
    job_id = job.id if job is not None else "local"
    worker = job.worker_name if job is not None else None
    attempt = write(
        lambda session: record_job_started(session, job_id, JOB_KIND, payload, worker), job_id
    )
    log.info("job started", job_id=job_id, attempt=attempt)
    ballast = b""
    try:
        if attempt <= int(payload.get("fail_times", 0)):
            raise SimulatedFailure(f"simulated failure on attempt {attempt}")
        if attempt == 1 and int(payload.get("ballast_mb", 0)) > 0:
            ballast = b"\xa5" * (int(payload["ballast_mb"]) * MB)  # touched: counts in RSS
        deadline = time.monotonic() + float(payload.get("duration", 0.0))
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(remaining, 0.1))
        result = {**analyse(str(payload["text"])), "attempt": attempt}
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        write(lambda session: record_job_failed(session, job_id, error), job_id)
        raise
    finally:
        del ballast
    write(lambda session: record_job_finished(session, job_id, result), job_id)
    log.info("job finished", job_id=job_id, attempt=attempt)
    return result
