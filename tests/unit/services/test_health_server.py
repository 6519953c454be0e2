from __future__ import annotations

import pytest

from common import healthcheck
from common.health import HealthServer


def test_health_and_metrics_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    alive = {"value": True}
    server = HealthServer(0, host="127.0.0.1", liveness=lambda: alive["value"]).start()
    try:
        port = str(server.port)
        assert healthcheck.check(port, "/health") == (
            True,
            f"http://127.0.0.1:{port}/health: HTTP 200",
        )
        ok, detail = healthcheck.check(port, "/metrics")
        assert ok
        assert not healthcheck.check(port, "/nope")[0]
        alive["value"] = False
        ok, detail = healthcheck.check(port, "/health")
        assert not ok
        assert "503" in detail
        monkeypatch.setenv("XORB_HEALTH_PORT", port)
        assert healthcheck.main() == 1
        alive["value"] = True
        assert healthcheck.main() == 0
    finally:
        server.stop()


def test_healthcheck_fails_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_HEALTH_PORT", "1")
    assert healthcheck.main() == 1
    monkeypatch.setenv("XORB_HEALTH_PORT", "not-a-port")
    assert healthcheck.main() == 1
