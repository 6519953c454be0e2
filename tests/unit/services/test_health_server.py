from __future__ import annotations

import socket
import threading
import time

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


def _one_shot_server(reply: bytes | None) -> tuple[socket.socket, threading.Thread]:
    """A listener that answers one connection with ``reply`` (None: never answers)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = conn.recv(4096)
            assert request.startswith(b"GET /health HTTP/1.0\r\n"), request
            if reply is None:
                time.sleep(1.0)
            else:
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize(
    ("reply", "ok", "detail"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", True, "HTTP 200"),
        (b"HTTP/1.1 503 Service Unavailable\r\n\r\n", False, "HTTP 503"),
        (b"SSH-2.0-OpenSSH\r\n", False, "not an HTTP status line"),
        (b"", False, "not an HTTP status line"),
        (None, False, "timed out"),
    ],
)
def test_healthcheck_reads_the_status_line(reply: bytes | None, ok: bool, detail: str) -> None:
    listener, thread = _one_shot_server(reply)
    with listener:
        port = str(listener.getsockname()[1])
        started = time.monotonic()
        result = healthcheck.check(port, "health", timeout=0.3)
        assert time.monotonic() - started < 0.9
        thread.join(2)
    assert result[0] is ok
    assert detail in result[1]
    assert result[1].startswith(f"http://127.0.0.1:{port}/health: ")


def test_healthcheck_rejects_bad_ports_and_paths() -> None:
    with pytest.raises(ValueError, match="out of range"):
        healthcheck.check("70000", "/health")
    assert healthcheck.check("8000", "/he alth") == (
        False,
        "http://127.0.0.1:8000/he alth: invalid path",
    )
