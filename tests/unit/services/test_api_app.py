from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import DependencyUnavailable, JobRecord, Services, WorkflowRecord
from common.config_manager import build_config
from common.settings import XorbConfig, package_version


class FakeJobs:
    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.down = False

    def enqueue(self, job_id: str, payload: dict[str, Any]) -> None:
        if self.down:
            raise DependencyUnavailable("redis")
        self.jobs[job_id] = payload

    def get(self, job_id: str) -> JobRecord | None:
        if job_id not in self.jobs:
            return None
        return JobRecord("finished", 1, {"words": len(self.jobs[job_id]["text"].split())})


class FakeWorkflows:
    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    async def start(self, payload: dict[str, Any]) -> str:
        workflow_id = f"text-pipeline-{len(self.started)}"
        self.started[workflow_id] = payload
        return workflow_id

    async def get(self, workflow_id: str) -> WorkflowRecord | None:
        return WorkflowRecord("completed", {"ok": True}) if workflow_id in self.started else None


async def _ok() -> None:
    return None


async def _fail() -> None:
    raise ConnectionRefusedError("secret-host:5432")


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> XorbConfig:
    monkeypatch.setenv("API_RATE_LIMIT", "5/minute")
    monkeypatch.setenv("API_RATE_LIMIT_STORAGE", "memory://")
    monkeypatch.setenv("API_MAX_BODY_BYTES", "2048")
    return build_config("test", secrets_dir=tmp_path)


@pytest.fixture
def services() -> Services:
    return Services(
        jobs=FakeJobs(),
        workflows=FakeWorkflows(),
        checks={"database": _ok, "redis": _ok, "temporal": _ok},
    )


@pytest.fixture
def client(config: XorbConfig, services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(config, services)) as test_client:
        yield test_client


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": package_version(),
        "instance": socket.gethostname(),  # which replica answered, as its logs name it
    }
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert len(response.headers["x-request-id"]) == 32


def test_health_reports_the_deployed_version(
    monkeypatch: pytest.MonkeyPatch, services: Services
) -> None:
    monkeypatch.setenv("XORB_VERSION", "bg-2")
    monkeypatch.setenv("API_RATE_LIMIT_STORAGE", "memory://")
    with TestClient(create_app(build_config("test"), services)) as client:
        assert client.get("/health").json() == {
            "status": "ok",
            "version": "bg-2",
            "instance": socket.gethostname(),
        }


def test_request_id_is_propagated(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"] == "abc-1"
    )


def test_the_request_line_names_the_client(client: TestClient) -> None:
    with structlog.testing.capture_logs() as logs:
        client.get("/jobs/nope", headers={"X-Request-ID": "who-1"})
    line = next(e for e in logs if e.get("request_id") == "who-1" and e["event"] == "request")
    assert line["client"] == "testclient" and line["status_code"] == 404


def test_ready_ok_and_failing(client: TestClient, services: Services) -> None:
    assert client.get("/ready").json()["status"] == "ok"
    services.checks["redis"] = _fail
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["redis"]
    assert body["checks"]["redis"] == "error: ConnectionRefusedError"
    assert "secret-host" not in response.text


def test_jobs_round_trip(client: TestClient) -> None:
    created = client.post("/jobs", json={"text": "a b c"})
    assert created.status_code == 202
    job_id = created.json()["id"]
    status = client.get(f"/jobs/{job_id}").json()
    assert status["status"] == "finished"
    assert status["result"] == {"words": 3}
    assert client.get("/jobs/unknown").status_code == 404


def test_job_validation(client: TestClient) -> None:
    assert client.post("/jobs", json={"text": ""}).status_code == 422
    assert client.post("/jobs", json={"text": "x", "duration": 999}).status_code == 422
    assert client.post("/jobs", json={"text": "x", "extra": 1}).status_code == 422


def test_dependency_down_is_503(client: TestClient, services: Services) -> None:
    services.jobs.down = True  # type: ignore[attr-defined]
    response = client.post("/jobs", json={"text": "x"})
    assert response.status_code == 503
    assert response.json() == {"detail": "redis unavailable"}


def test_workflows_round_trip(client: TestClient) -> None:
    created = client.post("/workflows", json={"text": "hello"})
    assert created.status_code == 202
    workflow_id = created.json()["id"]
    assert client.get(f"/workflows/{workflow_id}").json()["status"] == "completed"
    assert client.get("/workflows/nope").status_code == 404


def test_body_limit(client: TestClient) -> None:
    response = client.post("/jobs", json={"text": "x" * 5000})
    assert response.status_code == 413


def test_rate_limit_429_json(client: TestClient) -> None:
    codes = [client.get("/jobs/some-id").status_code for _ in range(7)]
    assert codes[:5] == [404] * 5
    assert codes[-1] == 429
    limited = client.get("/jobs/some-id")
    assert limited.json()["detail"].startswith("rate limit exceeded")
    assert client.get("/health").status_code == 200  # probes are exempt


def test_metrics(client: TestClient) -> None:
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "xorb_http_requests_total" in response.text


def test_openapi_lists_the_platform_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/ready", "/metrics", "/jobs", "/jobs/{job_id}", "/workflows"} <= set(paths)
    assert "/debug/sleep" not in paths


def test_debug_endpoint_only_when_enabled(config: XorbConfig, services: Services) -> None:
    with TestClient(create_app(config, services)) as enabled:
        assert enabled.get("/debug/sleep", params={"seconds": 0}).status_code == 200
    off = config.model_copy(
        update={"api_service": config.api_service.model_copy(update={"debug_endpoints": False})}
    )
    with TestClient(create_app(off, services)) as disabled:
        assert disabled.get("/debug/sleep").status_code == 404
