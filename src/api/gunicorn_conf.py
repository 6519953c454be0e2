"""gunicorn settings, read from the environment.

``python -m api`` runs gunicorn in-process with this module as its configuration;
``gunicorn -c python:api.gunicorn_conf 'api.app:create_app()'`` works the same way.

WORKERS (default 2 x CPU + 1, at most 8), TIMEOUT (60), GRACEFUL_TIMEOUT (30: in-flight
requests get this long after SIGTERM), KEEPALIVE (5), LOG_LEVEL, PORT/API_PORT (8000).
Uvicorn workers from the ``uvicorn-worker`` package; heartbeat files in /dev/shm so a
read-only root filesystem works; access lines come from the app's request middleware.

The app is preloaded: imported and created once in the master, then forked, so the
workers do not each import FastAPI, SQLAlchemy and co. on a small CPU budget. Nothing in
``create_app`` opens a socket, thread or event loop (connections are made in the lifespan,
which runs in every worker). Importing this module sets ``PROMETHEUS_MULTIPROC_DIR``
(unless set) because prometheus_client reads it once, when first imported - by the app,
in the master, before any hook runs.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from common.log import configure_logging

MAX_DEFAULT_WORKERS = 8


def _int(name: str, default: int, *aliases: str) -> int:
    for key in (name, *aliases):
        value = os.environ.get(key)
        if value:
            return int(value)
    return default


def default_workers(cpus: int | None = None) -> int:
    return max(1, min(2 * (cpus or os.cpu_count() or 1) + 1, MAX_DEFAULT_WORKERS))


_shm = Path("/dev/shm")  # noqa: S108 - tmpfs, writable with a read-only root filesystem
_tmp = str(_shm) if _shm.is_dir() else tempfile.gettempdir()


def prometheus_multiproc_dir() -> str:
    """Aggregate Prometheus samples across workers (files in tmpfs, never on the image)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="xorb-prom-", dir=_tmp
        )
    return folder


prometheus_multiproc_dir()

bind = f"0.0.0.0:{_int('API_PORT', 8000, 'PORT')}"
workers = _int("WORKERS", default_workers())
worker_class = "uvicorn_worker.UvicornWorker"
preload_app = True
worker_tmp_dir = _tmp
timeout = _int("TIMEOUT", 60)
graceful_timeout = _int("GRACEFUL_TIMEOUT", 30)
keepalive = _int("KEEPALIVE", 5)
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
accesslog = None
errorlog = "-"
proc_name = "xorb-api"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
control_socket_disable = True  # gunicorn >= 24 would otherwise create a socket file


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, re-pointed at the shared structlog JSON formatter."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure_logging(
            "api", os.environ.get("LOG_LEVEL", "INFO").upper(), os.environ.get("LOG_FORMAT", "json")
        )


logger_class = JsonLogger

# Imported lazily by every worker otherwise (uvicorn's protocol classes when the server
# starts, the database driver and the HTTP client's transport in the lifespan): done once
# in the master instead, they are shared by the forked workers. Imports only: no sockets.
WARM_IMPORTS = (
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.loops.asyncio",
    "uvicorn.middleware.proxy_headers",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "httpcore",
)


def warm_imports(modules: tuple[str, ...] = WARM_IMPORTS) -> None:
    for name in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def on_starting(server: Any) -> None:
    """In the master, after the app is preloaded and before the workers are forked."""
    warm_imports()
    gc.freeze()  # objects made so far stay shared with the workers (no copy-on-write by GC)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
