"""The API's workflow routes and readiness through the orchestrator's HTTP API."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import OrchestratorGateway, Services
from common.config_manager import build_config
from common.settings import XorbConfig

Handler = Callable[[httpx.Request], httpx.Response]


async def _ok() -> None:
    return None


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> XorbConfig:
    monkeypatch.setenv("API_RATE_LIMIT_STORAGE", "memory://")
    return build_config("test", secrets_dir=tmp_path)


def app_client(config: XorbConfig, gateway: OrchestratorGateway) -> TestClient:
    services = Services(
        jobs=None,  # type: ignore[arg-type]  # not used here
        workflows=gateway,
        checks={"database": _ok, "redis": _ok, "temporal": gateway.check},
    )
    return TestClient(create_app(config, services))


@pytest.fixture
def orchestrator(config: XorbConfig) -> Iterator[Callable[[Handler], TestClient]]:
    """An API whose orchestrator is ``handler`` (an httpx MockTransport)."""
    clients: list[TestClient] = []

    def make(handler: Handler) -> TestClient:
        gateway = OrchestratorGateway(config, transport=httpx.MockTransport(handler))
        client = app_client(config, gateway).__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def fake_orchestrator(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/ready":
        return httpx.Response(200, json={"status": "ok", "failed": []})
    if request.url.path == "/workflows" and request.method == "POST":
        assert json.loads(request.content) == {
            "text": "hello",
            "check_dependency": False,
            "delay": 0.0,
        }
        return httpx.Response(202, json={"id": "wf-1", "run_id": "r-1", "status": "running"})
    if request.url.path == "/workflows/wf-1":
        return httpx.Response(
            200, json={"id": "wf-1", "status": "completed", "result": {"words": 1}}
        )
    return httpx.Response(404, json={"detail": "no such workflow"})


def test_workflow_routes_proxy_to_the_orchestrator(
    orchestrator: Callable[[Handler], TestClient],
) -> None:
    api = orchestrator(fake_orchestrator)
    created = api.post("/workflows", json={"text": "hello", "check_dependency": False})
    assert created.status_code == 202
    assert created.json() == {"id": "wf-1", "status": "running"}
    status = api.get("/workflows/wf-1")
    assert status.json() == {"id": "wf-1", "status": "completed", "result": {"words": 1}}
    assert api.get("/workflows/unknown").status_code == 404
    ready = api.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "temporal": "ok"}


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
def test_unreachable_orchestrator_is_503(
    orchestrator: Callable[[Handler], TestClient], error: httpx.HTTPError
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    api = orchestrator(handler)
    for response in (api.post("/workflows", json={"text": "x"}), api.get("/workflows/wf-1")):
        assert response.status_code == 503
        assert response.json() == {"detail": "orchestrator unavailable"}
    ready = api.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["orchestrator"]
    assert ready.json()["checks"]["orchestrator"] == f"error: {type(error).__name__}"


def test_temporal_down_behind_the_orchestrator_is_503_temporal(
    orchestrator: Callable[[Handler], TestClient],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ready":
            return httpx.Response(503, json={"status": "unavailable", "failed": ["temporal"]})
        return httpx.Response(503, json={"detail": "temporal unavailable"})

    api = orchestrator(handler)
    assert api.post("/workflows", json={"text": "x"}).json() == {"detail": "temporal unavailable"}
    assert api.get("/workflows/wf-1").status_code == 503
    ready = api.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["temporal"]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"<html>proxy error</html>"),
        httpx.Response(202, json={"id": "wf-1", "status": "exploded", "run_id": "r"}),
        httpx.Response(400, json={"detail": "invalid request body"}),
        httpx.Response(500, json={"detail": "internal error"}),
    ],
)
def test_contract_breaking_answers_are_503_never_500(
    orchestrator: Callable[[Handler], TestClient], response: httpx.Response
) -> None:
    api = orchestrator(lambda request: response)
    for answer in (api.post("/workflows", json={"text": "x"}), api.get("/workflows/wf-1")):
        assert answer.status_code == 503
        assert answer.json() == {"detail": "orchestrator unavailable"}


def test_closed_port_is_503_quickly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ORCHESTRATOR_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("API_RATE_LIMIT_STORAGE", "memory://")
    config = build_config("test", secrets_dir=tmp_path)
    assert config.orchestrator.url == f"http://127.0.0.1:{port}"
    with app_client(config, OrchestratorGateway(config)) as api:
        response = api.post("/workflows", json={"text": "x"})
        assert response.status_code == 503
        assert response.json() == {"detail": "orchestrator unavailable"}
        assert api.get("/ready").json()["checks"]["orchestrator"] == "error: ConnectError"


def test_orchestrator_url_defaults(secrets_dir: Path) -> None:
    for env in ("production", "staging", "development"):
        config = build_config(env, environ={"XORB_ENV": env}, secrets_dir=secrets_dir)
        assert config.orchestrator.url == "http://orchestrator:9001"
