"""Last (``order(-1)``): a graceful stop of the whole stack (``inv down``, as a user runs
it) during load. Requests in flight when it starts get their answer, jobs that had started
finish (their rows say so when PostgreSQL is started again on its volume), and no container
had to be killed at the end of its stop grace period (none exited 137)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.docker.conftest import run_inv
from tests.resilience.conftest import LABEL
from tests.resilience.platform import PREFIX, Platform
from xorb_tools.core import names
from xorb_tools.core.poll import wait_for
from xorb_tools.testing import resilience
from xorb_tools.testing.loadgen import Load

pytestmark = [pytest.mark.resilience, pytest.mark.order(-1)]  # last: it stops the stack

JOB_SECONDS = 5.0


def test_inv_down_lets_in_flight_requests_and_jobs_finish(platform: Platform) -> None:
    with platform.client() as client:
        ids = platform.enqueue(client, 8, JOB_SECONDS, "graceful-stop")
    wait_for(
        lambda: sum(r.status == "started" for r in platform.jobs(ids).values()) >= 4,
        60,
        "jobs to start",
        interval=0.3,
    )
    started = {job for job, row in platform.jobs(ids).items() if row.status == "started"}
    since = dt.datetime.now(dt.UTC)
    load = Load(f"{platform.url}/health", rate=20, concurrency=8, version_field=None)
    enqueue = Load(
        f"{platform.url}/jobs",
        rate=10,
        concurrency=4,
        method="POST",
        json_body={"text": "during the stop"},
        ok_statuses=(202,),
        version_field=None,
    )
    with load, enqueue:
        time.sleep(2)
        marks = [load.now(), enqueue.now()]  # the same instant on each run's clock
        begun = time.monotonic()
        result = run_inv(
            "down", "--environment", "production", env={names.PROJECT_PREFIX_VAR: PREFIX}
        )
        took = time.monotonic() - begun
    assert result.code == 0, result.out
    runs = list(zip((load.result(), enqueue.result()), marks, strict=True))
    in_flight = [s for r, at in runs for s in r.samples if s.at < at and s.at + s.latency >= at]
    cut_off = [s for s in in_flight if s.status not in (200, 202)]
    before = [s for r, at in runs for s in r.failed(until=at)]
    docker = platform.stack.docker
    events = docker.system.events(
        since=since,
        until=dt.datetime.now(dt.UTC),
        filters={"label": f"{LABEL}={platform.stack.project}", "event": "die"},
    )
    exits = {
        str(e.actor.attributes.get("name")): str(e.actor.attributes.get("exitCode"))
        for e in events
        if e.actor is not None and e.actor.attributes
    }
    killed = sorted(name for name, code in exits.items() if code == "137")
    # PostgreSQL alone, on its volume, to read what the workers wrote before they stopped.
    docker.compose.up(["postgres"], detach=True, wait=True, pull="never", quiet=True)
    rows = platform.jobs(ids)
    unfinished = sorted(job for job in started if rows[job].status != "finished")
    resilience.record(
        "graceful_stop",
        resilience.Fault(
            failed_requests=len(cut_off) + len(before),
            lost_jobs=len(unfinished),
            recovery_seconds=None,
            details={
                "down_seconds": round(took, 1),
                "in_flight_requests": len(in_flight),
                "jobs_started_before_stop": len(started),
                "exit_codes": dict(sorted(exits.items())),
                "killed_after_grace": killed,
            },
        ),
    )
    assert cut_off == [] and before == []
    assert unfinished == []
    assert killed == []
