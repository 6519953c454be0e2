"""End to end on the development stack: up with --wait, a job through the API and the
worker and a workflow through the API and the orchestrator, each read back through the
API, then down with volumes removed (``nox -s e2e``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docker.conftest import run_inv
from xorb_tools.core import engine, names

pytestmark = pytest.mark.e2e

PORTS = {
    "XORB_DEV_POSTGRES_PORT": "35432",
    "XORB_DEV_REDIS_PORT": "36379",
    "XORB_DEV_TEMPORAL_PORT": "37233",
    "XORB_DEV_API_PORT": "38000",
    "XORB_DEV_ORCHESTRATOR_PORT": "39001",
    "XORB_DEV_PROMETHEUS_PORT": "39090",
    "XORB_DEV_GRAFANA_PORT": "33000",
}
API = f"http://127.0.0.1:{PORTS['XORB_DEV_API_PORT']}"


def _poll(url: str, done: set[str], seconds: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        response = httpx.get(url, timeout=5)
        if response.status_code == 200:
            body = response.json()
            if str(body.get("status")) in done:
                return body
        time.sleep(0.5)
    raise AssertionError(f"{url} did not finish in {seconds}s: {body}")


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    secrets_dir: Path = tmp_path_factory.mktemp("secrets") / "secrets"
    init = run_inv(
        "secrets.init", "--environment", "development", "--secrets-dir", str(secrets_dir)
    )
    assert init.code == 0, init.out
    try:
        up = run_inv(
            "up", "--environment", "development", "--secrets-dir", str(secrets_dir), env=PORTS
        )
        assert up.code == 0, up.out
        yield
    finally:
        down = run_inv("down", "--environment", "development", "--volumes", env=PORTS)
        assert down.code == 0, down.out
        label = f"com.docker.compose.project={names.project_name('development')}"
        assert engine.client().container.list(all=True, filters={"label": label}) == []
        assert engine.client().volume.list(filters={"label": label}) == []


def test_a_job_travels_through_the_worker_and_back(dev_stack: None) -> None:
    created = httpx.post(f"{API}/jobs", json={"text": "a b c"}, timeout=10)
    assert created.status_code in (200, 201, 202), created.text
    job_id = created.json()["id"]
    body = _poll(f"{API}/jobs/{job_id}", {"finished", "failed"})
    assert body["status"] == "finished", body
    assert body.get("result") is not None


def test_a_workflow_travels_through_the_orchestrator_and_back(dev_stack: None) -> None:
    started = httpx.post(f"{API}/workflows", json={"text": "hello xorb platform"}, timeout=10)
    assert started.status_code in (200, 201, 202), started.text
    workflow_id = started.json()["id"]
    body = _poll(f"{API}/workflows/{workflow_id}", {"completed", "failed", "timed_out"})
    assert body["status"] == "completed", body
    assert body.get("result") is not None
