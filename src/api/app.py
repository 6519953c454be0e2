"""The FastAPI application factory (``api.app:create_app``).

gunicorn loads ``api.app:create_app()``; uvicorn (development) uses ``--factory``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware
from slowapi.util import get_remote_address
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from api import routes
from api.middleware import RequestContextMiddleware, SecurityHeadersMiddleware
from api.services import DependencyUnavailable, PlatformServices, Services
from common.config_manager import get_config
from common.log import configure_logging, get_logger
from common.settings import XorbConfig

log = get_logger("api")


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    name = exc.dependency if isinstance(exc, DependencyUnavailable) else "dependency"
    cause = exc.__cause__ or exc
    log.warning("dependency unavailable", dependency=name, error=type(cause).__name__)
    return JSONResponse({"detail": f"{name} unavailable"}, status_code=503)


async def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    detail = getattr(exc, "detail", "rate limit exceeded")
    response = JSONResponse({"detail": f"rate limit exceeded: {detail}"}, status_code=429)
    response.headers["Retry-After"] = "60"
    return response


def build_limiter(config: XorbConfig) -> Limiter:
    """Limits are counted in Redis, so they hold across gunicorn workers and replicas."""
    return Limiter(
        key_func=get_remote_address,
        default_limits=[config.api_service.rate_limit],
        storage_uri=config.api_service.rate_limit_storage or config.redis.get_url(),
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1},  # type: ignore[dict-item]
        key_prefix="xorb-api",
        swallow_errors=True,  # Redis down: serve (readiness reports it) rather than fail
    )


def create_app(config: XorbConfig | None = None, services: Services | None = None) -> FastAPI:
    config = config or get_config()
    configure_logging("api", config.logging.level, config.logging.format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or PlatformServices(config)
        log.info("api started", env=config.env, port=config.api_service.port)
        try:
            yield
        finally:
            if owned:
                await app.state.services.close()
            log.info("api stopped")

    docs = config.api_service.docs_enabled
    app = FastAPI(
        title="XORB platform API",
        version="0.1.0",
        description="Enqueue jobs for the worker and start orchestrator workflows.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs or config.env == "test" else None,
    )
    if services is not None:
        app.state.services = services
    app.state.version = config.api_service.version
    limiter = build_limiter(config)
    app.state.limiter = limiter
    for probe in (routes.health, routes.ready, routes.metrics):
        limiter.exempt(probe)  # type: ignore[no-untyped-call]

    routers = [routes.probes, routes.api]
    if config.api_service.debug_endpoints:
        routers.append(routes.debug)
    # Mounted flat: slowapi's middleware finds a request's endpoint by scanning app.routes
    # for objects with an ``endpoint``; FastAPI's include_router now adds a wrapper object
    # instead, which would make every route silently exempt from the limit.
    for router in routers:
        app.router.routes.extend(router.routes)

    app.add_exception_handler(RateLimitExceeded, _rate_limited)
    app.add_exception_handler(DependencyUnavailable, _unavailable)

    # Added last = outermost: request context wraps everything, including 413 and 429.
    app.add_middleware(SlowAPIASGIMiddleware)
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=config.api_service.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, hsts=config.security.hsts)
    app.add_middleware(RequestContextMiddleware)
    return app
