"""gunicorn settings, read from the environment (``gunicorn -c python:api.gunicorn_conf``).

WORKERS (default 2 x CPU + 1, at most 8), TIMEOUT (60), GRACEFUL_TIMEOUT (30: in-flight
requests get this long after SIGTERM), KEEPALIVE (5), LOG_LEVEL, PORT/API_PORT (8000).
Uvicorn workers from the ``uvicorn-worker`` package; heartbeat files in /dev/shm so a
read-only root filesystem works; access lines come from the app's request middleware.
"""

from __future__ import annotations

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

bind = f"0.0.0.0:{_int('API_PORT', 8000, 'PORT')}"
workers = _int("WORKERS", default_workers())
worker_class = "uvicorn_worker.UvicornWorker"
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


def on_starting(server: Any) -> None:
    """Aggregate Prometheus samples across workers (files in tmpfs, never on the image)."""
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="xorb-prom-", dir=_tmp)
    )


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
