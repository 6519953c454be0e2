"""The load generator against a real local HTTP server (stdlib, in a thread)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from xorb_tools.testing.loadgen import Load, LoadResult, Sample


class _Handler(BaseHTTPRequestHandler):
    version = "v1"
    instance = "replica-a"

    def do_GET(self) -> None:
        if self.path == "/fail":
            self.send_response(503)
            self.end_headers()
            return
        body = json.dumps(
            {"status": "ok", "version": _Handler.version, "instance": _Handler.instance}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_load_counts_answers_and_versions(server: str) -> None:
    _Handler.version = "v1"
    with Load(f"{server}/health", rate=40, concurrency=4) as load:
        time.sleep(0.6)
        switched = load.now()
        _Handler.version = "v2"
        time.sleep(0.6)
    result = load.result()
    assert len(result.samples) >= 20
    assert result.failed() == []
    after = {s.version for s in result.samples if s.at >= switched + 0.1}
    assert after == {"v2"}
    assert "v1" in {s.version for s in result.samples if s.at < switched}
    assert result.instances_between(0) == {"replica-a"}
    summary = result.summary()
    assert summary["failed"] == 0 and summary["sent"] == len(result.samples)
    assert 0 < result.rate() <= 45


def test_errors_and_refused_connections_are_failures(server: str) -> None:
    with Load(f"{server}/fail", rate=20, concurrency=2) as load:
        time.sleep(0.3)
    assert {s.status for s in load.result().failed()} == {503}
    with Load("http://127.0.0.1:9/", rate=20, concurrency=2, timeout=1) as load:
        time.sleep(0.3)
    failed = load.result().failed()
    assert failed and all(s.status == 0 and s.error for s in failed)


def test_max_seconds_bounds_a_forgotten_run(server: str) -> None:
    load = Load(f"{server}/health", rate=50, max_seconds=0.3)
    load.start()
    time.sleep(1.0)
    count = len(load.result().samples)
    time.sleep(0.3)
    assert len(load.result().samples) == count
    load.stop()


def test_percentiles() -> None:
    samples = [Sample(float(i), 200, i / 1000) for i in range(1, 101)]
    result = LoadResult(samples, frozenset({200}), 0.0, 100.0)
    assert result.percentile(50) == pytest.approx(0.050, abs=0.002)
    assert result.percentile(99) == pytest.approx(0.099, abs=0.002)
    assert result.rate() == pytest.approx(1.0)


def test_a_get_on_a_keepalive_connection_the_server_closed_is_sent_once_more() -> None:
    """A server that answers one request per connection and drops the next one unanswered,
    as nginx does to a request written the instant a reload closed the idle connection."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                conn.recv(4096)  # the next request on the kept-alive connection: dropped

    threading.Thread(target=serve, daemon=True).start()
    try:
        with Load(f"http://127.0.0.1:{port}/", rate=20, concurrency=1) as load:
            time.sleep(0.6)
    finally:
        listener.close()
    result = load.result()
    assert result.failed() == []
    assert any(s.resent for s in result.samples)
    assert result.summary()["resent_after_keepalive_close"] == sum(
        1 for s in result.samples if s.resent
    )
