"""Workers killed mid-job, again and again: single work-horse processes (SIGKILL, as the
kernel's OOM killer or a crash would) and once a whole worker container. Every job still
completes, exactly once in effect: one result row per job, finished, and the ones that were
killed ran again (the result write is an idempotent upsert)."""

from __future__ import annotations

import random
import time

import pytest

from tests.resilience.platform import QUEUE_NAME, Platform, kill
from xorb_tools.core.poll import wait_for
from xorb_tools.testing import resilience

pytestmark = [pytest.mark.resilience, pytest.mark.order(3)]

JOBS = 24
DURATION = 2.5
PROCESS_KILLS = 8


def test_jobs_survive_repeated_worker_kills(platform: Platform) -> None:
    rng = random.Random(9)
    with platform.client() as client:
        ids = platform.enqueue(client, JOBS, DURATION, "worker-kill")
    killed: list[str] = []
    container_killed = False
    restarts = 0
    container_name = ""
    deadline = time.monotonic() + 90
    started = time.monotonic()
    while len(killed) < PROCESS_KILLS and time.monotonic() < deadline:
        targets = [(pid, job) for pid, job in platform.busy_workers() if job in ids]
        if not targets:
            if platform.finished(ids):
                break  # nothing left to kill
            time.sleep(0.2)
            continue
        pid, job = rng.choice(targets)
        if kill(pid):
            killed.append(job)
        if len(killed) == PROCESS_KILLS // 2 and not container_killed:
            # once the whole container: its supervisor and work-horses at once
            container = platform.containers("worker")[0]
            container_name, restarts = container.name, container.restart_count or 0
            container_killed = kill(int(container.state.pid or 0))
        time.sleep(0.5)
    try:
        wait_for(lambda: platform.finished(ids), 180, "every job to finish", interval=1.0)
    except AssertionError as exc:  # once in CI (stop 15): say where the jobs were stuck
        raise AssertionError(f"{exc}\n{platform.diagnose(ids)}") from None
    took = time.monotonic() - started
    rows = platform.jobs(ids)
    lost = [job for job in ids if job not in rows or rows[job].status != "finished"]
    rerun = sorted(job for job in set(killed) if rows[job].attempts >= 2)
    failed = int(platform.redis("ZCARD", f"rq:failed:{QUEUE_NAME}") or 0)
    restarted = [
        c.name
        for c in platform.containers("worker")
        if c.name == container_name and (c.restart_count or 0) > restarts
    ]
    resilience.record(
        "worker_killed_mid_job",
        resilience.Fault(
            lost_jobs=len(lost),
            recovery_seconds=round(took, 1),
            details={
                "jobs": JOBS,
                "job_seconds": DURATION,
                "work_horses_killed": len(killed),
                "killed_jobs_run_again": len(rerun),
                "container_killed": container_killed,
                "container_restarted": bool(restarted),
                "attempts_total": sum(r.attempts for r in rows.values()),
                "rq_failed_registry": failed,
                "note": "recovery_seconds: first kill to every job finished",
            },
        ),
    )
    assert lost == []
    assert len(rows) == JOBS and all(r.status == "finished" for r in rows.values())
    assert failed == 0
    assert len(killed) >= PROCESS_KILLS // 2, "too few work-horses were caught mid-job"
    assert len(rerun) >= len(set(killed)) // 2, "the kills did not interrupt running jobs"
    assert not container_killed or restarted, "the killed worker container was not restarted"
