"""An API replica killed (SIGKILL to its init, as a crash would) under load through nginx:
the restart policy brings it back healthy, and the requests nginx sends meanwhile go to the
other replicas, so none fails. Idempotent requests (GET) are retried on the next replica
even when the dead one had them, unless it had already begun to answer (nginx has passed
the status line on and cannot start over: the client sees the body cut off); a POST the
dead replica had already received cannot be (nginx never replays a non-idempotent
request). So only requests in flight at the kill may fail, never later ones."""

from __future__ import annotations

import time

import pytest

from tests.resilience.platform import Platform, kill
from xorb_tools.core.poll import wait_for
from xorb_tools.testing import resilience
from xorb_tools.testing.loadgen import Load

pytestmark = [pytest.mark.resilience, pytest.mark.order(2)]
IN_FLIGHT = 1.0
"""Seconds after the kill within which a POST may still have been on its way to the dead
replica, or a GET's answer half-way out of it."""
CUT_OFF = "peer closed connection without sending complete message body"
"""What the client sees when the replica died after nginx had passed its status line on."""
TIMEOUT = 30.0
"""Client timeout: above nginx's own bound for trying the next replica (a connection to an
address that vanished fails only by nginx's connect timeout), so a slow failover shows as
latency in the figures, not as a client-side error."""


def test_killed_api_replica_loses_no_request(platform: Platform) -> None:
    replicas = platform.containers("api")
    assert len(replicas) >= 2, "the production stack runs several API replicas"
    victim = replicas[0]
    restarts = victim.restart_count or 0
    health = Load(
        f"{platform.url}/health", rate=20, concurrency=8, timeout=TIMEOUT, version_field=None
    )
    enqueue = Load(
        f"{platform.url}/jobs",
        rate=5,
        concurrency=4,
        timeout=TIMEOUT,
        method="POST",
        json_body={"text": "during a replica crash"},
        ok_statuses=(202,),
        version_field=None,
    )
    with health, enqueue:
        time.sleep(3)
        killed_at = health.now()
        assert kill(int(victim.state.pid or 0)), "the replica was not running"

        def back() -> bool:
            now = platform.fresh(victim)
            health_now = now.state.health
            return (now.restart_count or 0) > restarts and (
                health_now is not None and health_now.status == "healthy"
            )

        recovery = wait_for(back, 120, f"{victim.name} to be restarted and healthy")
        time.sleep(3)  # traffic to the replica that came back
    gets, posts = health.result(), enqueue.result()
    failed_gets = gets.failed()
    failed_posts = posts.failed()
    after_the_kill = [s for s in failed_posts if s.at > killed_at + IN_FLIGHT]
    cut_off = [
        s for s in failed_gets if s.at <= killed_at + IN_FLIGHT and CUT_OFF in (s.error or "")
    ]
    other_gets = [s for s in failed_gets if s not in cut_off]
    resilience.record(
        "api_replica_killed",
        resilience.Fault(
            failed_requests=len(failed_gets) + len(failed_posts),
            recovery_seconds=round(recovery, 1),
            details={
                "replicas": len(replicas),
                "health": gets.summary(),
                "enqueue": posts.summary(),
                "failed_enqueue_statuses": sorted({s.status for s in failed_posts}),
                "health_answers_cut_off_by_the_kill": len(cut_off),
            },
        ),
    )
    assert other_gets == [], gets.summary()
    assert after_the_kill == [], posts.summary()
