"""PostgreSQL stopped for 20 s: ``/ready`` reports the database, jobs are still accepted
(Redis holds them) and their result writes are retried until the database is back, reads
of a job's result fail with a clear 503, and everything recovers by itself."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.resilience.platform import Platform
from xorb_tools.core.poll import wait_for
from xorb_tools.testing import resilience

pytestmark = [pytest.mark.resilience, pytest.mark.order(6)]

OUTAGE = 20.0


def test_a_postgres_outage_is_reported_retried_and_survived(platform: Platform) -> None:
    restarts = sum(c.restart_count or 0 for c in platform.containers("worker"))
    with platform.client(timeout=30) as client:
        platform.stack.docker.compose.stop(["postgres"])
        stopped = time.monotonic()
        ready: list[httpx.Response] = []

        def reported() -> bool:
            ready.append(client.get("/ready"))
            return ready[-1].status_code == 503 and "database" in ready[-1].json()["failed"]

        wait_for(reported, 15, "/ready to report the database")
        ids = platform.enqueue(client, 6, 0.5, "postgres-outage")
        read = client.get(f"/jobs/{ids[0]}")
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
        platform.stack.docker.compose.start(["postgres"])
        back = time.monotonic()
        wait_for(lambda: client.get("/ready").status_code == 200, 90, "/ready to be ok again")
        ready_again = time.monotonic() - back
    wait_for(lambda: platform.finished(ids), 120, "the jobs to finish", interval=1.0)
    recovery = time.monotonic() - back
    rows = platform.jobs(ids)
    lost = [job for job in ids if job not in rows or rows[job].status != "finished"]
    worker_restarts = sum(c.restart_count or 0 for c in platform.containers("worker"))
    resilience.record(
        "postgres_stopped",
        resilience.Fault(
            failed_requests=0,
            lost_jobs=len(lost),
            recovery_seconds=round(recovery, 1),
            details={
                "outage_seconds": round(back - stopped, 1),
                "ready_during_outage": ready[-1].json(),
                "job_read_during_outage": [read.status_code, read.json()],
                "ready_again_seconds": round(ready_again, 1),
                "attempts": sorted(r.attempts for r in rows.values()),
                "worker_restarts": worker_restarts - restarts,
            },
        ),
    )
    assert read.status_code == 503 and read.json() == {"detail": "database unavailable"}
    assert lost == []
    assert worker_restarts == restarts
