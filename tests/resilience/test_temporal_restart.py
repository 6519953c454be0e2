"""The Temporal server restarted during a workflow (waiting on a durable timer): the
workflow completes after the server is back, and the orchestrator reconnects by itself."""

from __future__ import annotations

import time

import pytest

from tests.resilience.platform import Platform
from xorb_tools.core.poll import wait_for
from xorb_tools.testing import resilience

pytestmark = [pytest.mark.resilience, pytest.mark.order(7)]

DELAY = 8.0


def test_a_workflow_completes_across_a_temporal_restart(platform: Platform) -> None:
    orchestrator = platform.container("orchestrator")
    restarts = orchestrator.restart_count or 0
    body: dict[str, object] = {}
    with platform.client(timeout=20) as client:
        started = client.post("/workflows", json={"text": "survive a restart", "delay": DELAY})
        assert started.status_code == 202, started.text
        workflow = started.json()["id"]
        time.sleep(2)
        assert client.get(f"/workflows/{workflow}").json()["status"] == "running"
        restarted = time.monotonic()
        platform.stack.docker.compose.restart(["temporal"])

        def completed() -> bool:
            response = client.get(f"/workflows/{workflow}")
            body.update(response.json())
            return response.status_code == 200 and body.get("status") == "completed"

        wait_for(completed, 120, "the workflow to complete", interval=1.0)
    recovery = time.monotonic() - restarted
    orchestrator = platform.fresh(orchestrator)
    stored = platform.sql(f"SELECT status FROM workflow_runs WHERE workflow_id = '{workflow}'")
    resilience.record(
        "temporal_restarted",
        resilience.Fault(
            lost_jobs=0 if stored == [["completed"]] else 1,
            recovery_seconds=round(recovery, 1),
            details={
                "timer_seconds": DELAY,
                "orchestrator_restarts": (orchestrator.restart_count or 0) - restarts,
                "stored": stored,
            },
        ),
    )
    assert body["status"] == "completed"
    assert stored == [["completed"]]
