"""The orchestrator's HTTP API on its health server, with a fake Temporal client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from common.config_manager import build_config
from common.health import HealthServer
from orchestrator.http_api import WorkflowApi

MAX_BODY = 4096


class FakeTemporal:
    """The few ``temporalio.client.Client`` calls the HTTP API makes."""

    def __init__(self) -> None:
        self.workflows: dict[str, dict[str, Any]] = {}
        self.healthy = True
        self.delay = 0.0
        self.service_client = self

    async def check_health(self) -> bool:
        await asyncio.sleep(self.delay)
        if not self.healthy:
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
        return True

    async def start_workflow(self, name: str, arg: dict[str, Any], **options: Any) -> Any:
        await asyncio.sleep(self.delay)
        self.workflows[options["id"]] = {"name": name, "arg": arg, **options}
        return SimpleNamespace(result_run_id="run-1")

    def get_workflow_handle(self, workflow_id: str) -> Any:
        fake = self

        class Handle:
            async def describe(self) -> Any:
                if workflow_id not in fake.workflows:
                    raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
                return SimpleNamespace(status=WorkflowExecutionStatus.COMPLETED)

            async def result(self) -> dict[str, Any]:
                return {"words": len(fake.workflows[workflow_id]["arg"]["text"].split())}

        return Handle()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The orchestrator's event loop, running in a thread as in ``serve``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
def http(
    loop: asyncio.AbstractEventLoop,
    temporal: FakeTemporal,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[httpx.Client]:
    monkeypatch.setenv("ORCHESTRATOR_TEMPORAL_TIMEOUT", "0.3")
    config = build_config("test", secrets_dir=tmp_path)
    api = WorkflowApi(cast(Client, temporal), config, loop)
    server = HealthServer(0, host="127.0.0.1", router=api, max_body_bytes=MAX_BODY).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
            yield client
    finally:
        server.stop()


def test_start_and_read_a_workflow(http: httpx.Client, temporal: FakeTemporal) -> None:
    started = http.post("/workflows", json={"text": "a b c"})
    assert started.status_code == 202
    body = started.json()
    assert body["id"].startswith("text-pipeline-")
    assert body == {"id": body["id"], "run_id": "run-1", "status": "running"}
    options = temporal.workflows[body["id"]]
    assert options["arg"] == {"text": "a b c", "check_dependency": True, "delay": 0.0}
    assert options["task_queue"] == "xorb-orchestrator-test"
    status = http.get(f"/workflows/{body['id']}")
    assert status.status_code == 200
    assert status.json() == {"id": body["id"], "status": "completed", "result": {"words": 3}}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"text": ""}',
        b'{"check_dependency": true}',
        b'{"text": "x", "extra": 1}',
        b'{"text": "x", "check_dependency": "maybe"}',
        b"\xff\xfe",
    ],
)
def test_bad_start_body_is_400(http: httpx.Client, temporal: FakeTemporal, content: bytes) -> None:
    response = http.post("/workflows", content=content)
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "invalid request body"
    assert isinstance(response.json()["errors"], list)
    assert temporal.workflows == {}


def test_body_is_bounded(http: httpx.Client) -> None:
    response = http.post("/workflows", json={"text": "x" * MAX_BODY})
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}
    chunked = http.post("/workflows", content=iter([b'{"text": "x"}']))  # no Content-Length
    assert chunked.status_code == 411


def test_unknown_workflow_is_404_and_bad_id_400(http: httpx.Client) -> None:
    unknown = http.get("/workflows/text-pipeline-nope")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no such workflow"}
    assert http.get("/workflows/bad.id").status_code == 400
    assert http.get("/workflows/").status_code == 400
    assert http.get("/workflows/a/b").status_code == 404


def test_methods_and_unknown_paths(http: httpx.Client) -> None:
    assert http.put("/workflows", json={}).status_code == 405
    assert http.delete("/workflows/x").status_code == 405
    assert http.post("/ready").status_code == 405
    assert http.get("/workflows").status_code == 405
    assert http.get("/nope").status_code == 404
    assert http.post("/nope", content=b"{}").status_code == 404
    assert http.get("/health").json() == {"status": "ok"}


def test_ready_follows_temporal(http: httpx.Client, temporal: FakeTemporal) -> None:
    assert http.get("/ready").status_code == 200
    temporal.healthy = False
    response = http.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["temporal"]}


def test_slow_temporal_is_503_not_a_hang(http: httpx.Client, temporal: FakeTemporal) -> None:
    temporal.delay = 2.0
    response = http.post("/workflows", json={"text": "x"})
    assert response.status_code == 503
    assert response.json() == {"detail": "temporal unavailable"}
    assert http.get("/ready").status_code == 503
    assert response.elapsed.total_seconds() < 1.5
