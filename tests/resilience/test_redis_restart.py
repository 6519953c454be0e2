"""Redis restarted with jobs queued: with append-only persistence on (compose sets
``REDIS_APPENDONLY=yes`` and a volume for /data) the queue survives, the API answers 503
naming Redis while it is away, and the API and the workers reconnect without a restart."""

from __future__ import annotations

import time

import pytest

from tests.resilience.platform import Platform
from xorb_tools.core.poll import wait_for
from xorb_tools.testing import resilience

pytestmark = [pytest.mark.resilience, pytest.mark.order(5)]

JOBS = 30
SUSPENDED = "rq:suspended"
"""RQ's suspension flag (``rq suspend``): workers finish what they run and take nothing new."""


def _restarts(platform: Platform, *services: str) -> int:
    return sum(c.restart_count or 0 for s in services for c in platform.containers(s))


def test_the_queue_survives_a_redis_restart(platform: Platform) -> None:
    assert platform.redis("CONFIG", "GET", "appendonly").split()[-1] == "yes"
    restarts = _restarts(platform, "api", "worker")
    statuses: list[int] = []
    with platform.client() as client:
        platform.redis("SET", SUSPENDED, "1")  # workers take nothing: the jobs stay queued
        try:
            ids = platform.enqueue(client, JOBS, 1.0, "redis-restart")
            queued = platform.queued()
            started = time.monotonic()
            platform.stack.docker.compose.restart(["redis"])
            queued_after = platform.queued()
        finally:
            platform.redis("DEL", SUSPENDED)

        def accepted() -> bool:
            response = client.post("/jobs", json={"text": "after the restart"})
            statuses.append(response.status_code)
            if response.status_code == 202:
                ids.append(str(response.json()["id"]))
            return response.status_code == 202

        api_back = wait_for(accepted, 60, "the API to enqueue again")
    api_recovery = time.monotonic() - started
    wait_for(lambda: platform.finished(ids), 180, "every job to finish", interval=1.0)
    recovery = time.monotonic() - started
    rows = platform.jobs(ids)
    lost = [job for job in ids if job not in rows or rows[job].status != "finished"]
    errors = [s for s in statuses if s not in (202, 503)]
    resilience.record(
        "redis_restarted",
        resilience.Fault(
            failed_requests=len([s for s in statuses if s != 202]),
            lost_jobs=len(lost),
            recovery_seconds=round(recovery, 1),
            details={
                "queued_before_restart": queued,
                "queued_after_restart": queued_after,
                "api_recovery_seconds": round(api_recovery, 1),
                "api_wait_seconds": round(api_back, 1),
                "statuses_while_away": sorted(set(statuses)),
                "service_restarts": _restarts(platform, "api", "worker") - restarts,
            },
        ),
    )
    assert queued >= JOBS // 2, "the jobs were not waiting in the queue when Redis restarted"
    assert queued_after == queued, "the queue did not survive the restart"
    assert lost == []
    assert errors == [], "the API answered something other than 202 or 503"
    assert _restarts(platform, "api", "worker") == restarts
