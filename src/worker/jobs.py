"""The jobs the worker runs. Every write is an upsert keyed by the job id, so running a job
again (retry, or recovery after its worker was killed) is harmless."""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from functools import lru_cache
from typing import Any

from rq import get_current_job
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


def process_text(payload: dict[str, Any]) -> dict[str, Any]:
    """Analyse ``payload["text"]`` after ``duration`` seconds of simulated work."""
    job = get_current_job()
    job_id = job.id if job is not None else "local"
    worker = job.worker_name if job is not None else None
    make_session = sessions()
    with make_session() as session:
        attempt = record_job_started(session, job_id, JOB_KIND, payload, worker)
    log.info("job started", job_id=job_id, attempt=attempt)
    try:
        if attempt <= int(payload.get("fail_times", 0)):
            raise SimulatedFailure(f"simulated failure on attempt {attempt}")
        deadline = time.monotonic() + float(payload.get("duration", 0.0))
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(remaining, 0.1))
        result = {**analyse(str(payload["text"])), "attempt": attempt}
    except Exception as exc:
        with make_session() as session:
            record_job_failed(session, job_id, f"{type(exc).__name__}: {exc}")
        raise
    with make_session() as session:
        record_job_finished(session, job_id, result)
    log.info("job finished", job_id=job_id, attempt=attempt)
    return result
