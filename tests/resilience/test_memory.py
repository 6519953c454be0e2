"""``WORKER_MAX_MEMORY``: a job that pushes its worker process over the limit (600 MB of
ballast against 512m, under the container's 1 GiB) gets that process replaced and the job
retried in a fresh one; the kernel never OOM-kills the container."""

from __future__ import annotations

import pytest

from tests.resilience.platform import Platform
from xorb_tools.core.poll import wait_for
from xorb_tools.testing import resilience

pytestmark = [pytest.mark.resilience, pytest.mark.order(4)]

BALLAST_MB = 600


def test_worker_over_its_memory_limit_is_replaced_and_the_job_retried(
    platform: Platform,
) -> None:
    containers = platform.containers("worker")
    before = {c.name: c.restart_count or 0 for c in containers}
    job = platform.enqueue_direct({"text": "memory hog", "duration": 2, "ballast_mb": BALLAST_MB})
    took = wait_for(lambda: platform.finished([job]), 120, "the memory job to finish")
    row = platform.jobs([job])[job]
    lines = {
        c.name: [
            line
            for line in str(platform.stack.docker.container.logs(c)).splitlines()
            if job in line
        ]
        for c in containers
    }
    replaced = [
        name
        for name, found in lines.items()
        if any("memory limit exceeded during a job" in line for line in found)
    ]
    containers = [platform.fresh(c) for c in containers]
    after = {c.name: c.restart_count or 0 for c in containers}
    oom = [c.name for c in containers if c.state.oom_killed]
    resilience.record(
        "worker_memory_limit",
        resilience.Fault(
            lost_jobs=0 if row.status == "finished" else 1,
            recovery_seconds=round(took, 1),
            details={
                "ballast_mb": BALLAST_MB,
                "attempts": row.attempts,
                "worker_replaced_in": replaced,
                "container_restarts": sum(after.values()) - sum(before.values()),
                "oom_killed": oom,
                "log": [line[:240] for found in lines.values() for line in found],
            },
        ),
    )
    assert row.status == "finished"
    # Two runs; a third only when a heartbeat stalled past its grace on a starved host
    # (the recovery then ran it again, harmlessly: the result write is an upsert).
    assert row.attempts >= 2, f"the job did not run again: {lines}"
    assert replaced, "no worker logged that it gave the job back over the memory limit"
    assert after == before and oom == [], "a worker container was restarted or OOM-killed"
