"""A job and a workflow through the API against the real servers, readiness, schemathesis.

Workflows go API -> orchestrator HTTP API -> Temporal -> orchestrator worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from common.health import HealthServer
from common.settings import XorbConfig
from xorb_tools.core.poll import wait_for

from .conftest import (
    Infra,
    Service,
    TcpProxy,
    free_port,
    make_config,
    start_orchestrator,
    worker_health_port,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def api(api_config: XorbConfig) -> Iterator[TestClient]:
    with TestClient(create_app(api_config)) as client:
        yield client


def test_job_posted_to_the_api_is_run_by_the_worker(
    api: TestClient, spawn: Callable[..., Service]
) -> None:
    worker = spawn("worker")
    worker_health_port(worker)
    created = api.post("/jobs", json={"text": "to be or not to be", "duration": 0.2})
    assert created.status_code == 202
    job_id = created.json()["id"]
    wait_for(lambda: api.get(f"/jobs/{job_id}").json()["status"] == "finished", 60, "the job")
    body = api.get(f"/jobs/{job_id}").json()
    assert body["result"]["words"] == 6
    assert body["result"]["top_words"][0] == ["to", 2]
    assert body["attempts"] == 1


def test_failed_attempts_are_retried(api: TestClient, spawn: Callable[..., Service]) -> None:
    worker_health_port(spawn("worker"))
    job_id = api.post("/jobs", json={"text": "retry me", "fail_times": 1}).json()["id"]
    wait_for(lambda: api.get(f"/jobs/{job_id}").json()["status"] == "finished", 60, "the retry")
    assert api.get(f"/jobs/{job_id}").json()["attempts"] == 2


def test_workflow_started_through_the_api_completes(
    service_env: dict[str, str], spawn: Callable[..., Service]
) -> None:
    dependency = HealthServer(0, host="127.0.0.1").start()  # the "external" HTTP dependency
    try:
        # Its own task queue: only this orchestrator runs the workflows it starts.
        orchestrator, url = start_orchestrator(
            spawn,
            f"http://127.0.0.1:{dependency.port}/health",
            TEMPORAL_TASK_QUEUE=f"xorb-it-flow-{free_port()}",
        )
        config = make_config(service_env, ORCHESTRATOR_URL=url)
        with TestClient(create_app(config)) as api:
            created = api.post("/workflows", json={"text": "alpha beta alpha"})
            assert created.status_code == 202, created.text
            workflow_id = created.json()["id"]
            wait_for(
                lambda: api.get(f"/workflows/{workflow_id}").json()["status"] == "completed",
                60,
                "the workflow",
            )
            result = api.get(f"/workflows/{workflow_id}").json()["result"]
            assert result["stats"]["words"] == 3
            assert result["dependency"]["status"] == "ok"
            assert result["workflow_id"] == workflow_id
            assert api.get("/workflows/text-pipeline-unknown").status_code == 404

            assert orchestrator.stop(timeout=30) == 0
            response = api.post("/workflows", json={"text": "nobody listens"})
            assert response.status_code == 503
            assert response.json() == {"detail": "orchestrator unavailable"}
            assert api.get(f"/workflows/{workflow_id}").status_code == 503
            ready = api.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["failed"] == ["orchestrator"]
    finally:
        dependency.stop()


def test_ready_names_a_dead_dependency(service_env: dict[str, str], api_config: XorbConfig) -> None:
    with TestClient(create_app(api_config)) as client:
        response = client.get("/ready")
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {"database": "ok", "redis": "ok", "temporal": "ok"}
    bogus = make_config(
        service_env,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        ORCHESTRATOR_URL=f"http://127.0.0.1:{free_port()}",
    )
    with TestClient(create_app(bogus)) as client:
        response = client.get("/ready")
        assert response.status_code == 503
        assert response.json()["failed"] == ["orchestrator", "redis"]
        assert client.get("/health").status_code == 200  # liveness has no dependencies


def test_ready_reports_temporal_when_the_orchestrator_loses_it(
    service_env: dict[str, str], infra: Infra, spawn: Callable[..., Service]
) -> None:
    proxy = TcpProxy(infra.temporal_host)  # the orchestrator reaches Temporal through it
    _, url = start_orchestrator(
        spawn,
        "http://127.0.0.1:1/health",
        TEMPORAL_HOST=proxy.address,
        TEMPORAL_TASK_QUEUE=f"xorb-it-cut-{free_port()}",
    )
    with TestClient(create_app(make_config(service_env, ORCHESTRATOR_URL=url))) as client:
        assert client.get("/ready").status_code == 200
        proxy.cut()
        wait_for(lambda: client.get("/ready").status_code == 503, 20, "readiness to fail")
        body = client.get("/ready").json()
        assert body["failed"] == ["temporal"], body
        response = client.post("/workflows", json={"text": "x"})
        assert response.status_code == 503
        assert response.json() == {"detail": "temporal unavailable"}


def test_ready_turns_503_when_redis_stops_and_200_when_it_returns(
    service_env: dict[str, str], infra: Infra, orchestrator_url: str
) -> None:
    # The suite's own Redis, behind a proxy the test cuts and restores (as Redis going away
    # and coming back on its address), so no other server is needed on the host.
    parts = urlsplit(infra.redis_url)
    proxy = TcpProxy(f"{parts.hostname}:{parts.port}")
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{proxy.address}" if userinfo else proxy.address
    config = make_config(
        service_env,
        REDIS_URL=urlunsplit(parts._replace(netloc=netloc)),
        ORCHESTRATOR_URL=orchestrator_url,
    )
    with TestClient(create_app(config)) as client:
        wait_for(lambda: client.get("/ready").status_code == 200, 20, "ready")
        proxy.cut()
        wait_for(lambda: client.get("/ready").status_code == 503, 20, "readiness to fail")
        assert client.get("/ready").json()["failed"] == ["redis"]
        proxy.restore()
        wait_for(lambda: client.get("/ready").status_code == 200, 20, "ready again")
    proxy.cut()


def test_openapi_schema(api_config: XorbConfig) -> None:
    """Schemathesis against the real app (real Redis, PostgreSQL, orchestrator and Temporal
    behind it): no 5xx, responses conform to the schema. Driven directly: the pytest plugin's
    lazy fixture does not work with pytest 9 here."""
    app = create_app(api_config)
    with TestClient(app):  # runs the lifespan
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) >= 7
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=15,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
                case.call_and_validate()

            check()
