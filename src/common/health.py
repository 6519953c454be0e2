"""A tiny HTTP endpoint for services that are not web servers (orchestrator, worker).

``GET /health`` answers 200 ``{"status": "ok"}`` while the ``liveness`` callback returns True
(503 otherwise); ``GET /metrics`` serves the Prometheus registry. A service may add routes
with a ``router``: a plain function from :class:`HttpRequest` to :class:`HttpReply` (``None``
for "not mine", which answers 404). Standard library ``ThreadingHTTPServer`` in a daemon
thread: no extra dependency, nothing written to disk. Request bodies are bounded, and every
malformed request gets a 4xx JSON answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from common.log import get_logger

log = get_logger("health")

DEFAULT_MAX_BODY_BYTES = 1_048_576
SOCKET_TIMEOUT_SECONDS = 10.0  # a client that stalls mid-request does not hold a thread


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # without the query string
    body: bytes = b""


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


Router = Callable[[HttpRequest], HttpReply | None]


class HealthServer:
    """Serve ``/health``, ``/metrics`` and the ``router``'s routes on ``host:port``.

    Port 0 picks a free port (see :attr:`port`).
    """

    def __init__(
        self,
        port: int,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - must be reachable from the container network
        liveness: Callable[[], bool] | None = None,
        registry: CollectorRegistry = REGISTRY,
        router: Router | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._liveness = liveness or (lambda: True)
        self._registry = registry
        self._router = router
        self._max_body_bytes = max_body_bytes
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = SOCKET_TIMEOUT_SECONDS

            def do_GET(self) -> None:
                path = self._path()
                if path == "/health":
                    alive = server._is_alive()
                    body = json.dumps({"status": "ok" if alive else "unhealthy"}).encode()
                    self._reply(200 if alive else 503, "application/json", body)
                elif path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(server._registry))
                else:
                    self._route(HttpRequest("GET", path))

            def do_POST(self) -> None:
                body = self._read_body()
                if body is not None:
                    self._route(HttpRequest("POST", self._path(), body))

            def _not_allowed(self) -> None:
                self._json(HttpReply(405, {"detail": "Method Not Allowed"}))

            do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_allowed

            def _path(self) -> str:
                return self.path.split("?", 1)[0]

            def _read_body(self) -> bytes | None:
                """The request body, or None after answering 4xx for a bad or large one."""
                if self.headers.get("Transfer-Encoding"):
                    self._json(HttpReply(411, {"detail": "Content-Length required"}))
                    return None
                raw = self.headers.get("Content-Length", "0")
                try:
                    length = int(raw)
                    if length < 0:
                        raise ValueError(raw)
                except ValueError:
                    self._json(HttpReply(400, {"detail": "invalid Content-Length"}))
                    return None
                if length > server._max_body_bytes:
                    self.close_connection = True  # the body is not read
                    self._json(HttpReply(413, {"detail": "request body too large"}))
                    return None
                return self.rfile.read(length)

            def _route(self, request: HttpRequest) -> None:
                reply = None
                if server._router is not None:
                    try:
                        reply = server._router(request)
                    except Exception:  # a bug, never bad input: the router validates
                        log.exception("route failed", method=request.method, path=request.path)
                        reply = HttpReply(500, {"detail": "internal error"})
                self._json(reply or HttpReply(404, {"detail": "Not Found"}))

            def _json(self, reply: HttpReply) -> None:
                self._reply(reply.status, "application/json", json.dumps(reply.body).encode())

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Probes every few seconds are not worth a log line."""

        return Handler

    def _is_alive(self) -> bool:
        try:
            return bool(self._liveness())
        except Exception:
            return False

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
