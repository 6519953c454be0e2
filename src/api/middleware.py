"""Pure ASGI middleware (no BaseHTTPMiddleware: streaming stays intact, no extra task).

* :class:`RequestContextMiddleware` - request id (``X-Request-ID`` in and out), one log line
  per request with ``path``, ``status_code``, ``duration``, ``request_id`` and ``client``
  (behind nginx: the address nginx saw, through uvicorn's proxy headers), and the
  Prometheus request metrics.
* :class:`SecurityHeadersMiddleware` - the usual response headers.
The body size limit is Starlette's own ``RequestBodyLimitMiddleware`` (413).
"""

from __future__ import annotations

import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.log import bind_context, clear_context, get_logger

REQUESTS = Counter("xorb_http_requests_total", "HTTP requests", ["method", "route", "status_code"])
LATENCY = Histogram(
    "xorb_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_QUIET_PATHS = frozenset({"/health", "/metrics"})

log = get_logger("api.request")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        path: str = scope["path"]
        method: str = scope["method"]
        status_code = 500
        start = time.perf_counter()
        clear_context()
        bind_context(request_id=request_id)

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            duration = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            REQUESTS.labels(method, route, str(status_code)).inc()
            LATENCY.labels(method, route).observe(duration)
            if path not in _QUIET_PATHS or status_code >= 400:
                log.info(
                    "request",
                    method=method,
                    path=path,
                    status_code=status_code,
                    duration=round(duration, 6),
                    request_id=request_id,
                    client=(scope.get("client") or ("-",))[0],
                )
            clear_context()


class SecurityHeadersMiddleware:
    DOC_PATHS = ("/docs", "/redoc")

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers: list[tuple[str, str]] = [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Permissions-Policy", "geolocation=(), camera=(), microphone=()"),
            ("Cache-Control", "no-store"),
        ]
        if hsts:
            self.headers.append(
                ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope["path"]).startswith(self.DOC_PATHS)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers.setdefault(name, value)
                if not docs:  # Swagger UI needs scripts; the JSON API needs nothing
                    headers.setdefault(
                        "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"
                    )
            await send(message)

        await self.app(scope, receive, send_wrapper)
