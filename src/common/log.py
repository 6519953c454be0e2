"""Structured logging: one JSON object per line, the same shape from every service.

Fields: ``timestamp`` (ISO 8601, UTC), ``level`` (upper case), ``service``, ``container_id``
(the hostname, which Docker sets to the short container id), ``message``, plus whatever the
caller binds (requests add ``duration``, ``status_code``, ``path``, ``request_id``).
Standard-library loggers (uvicorn, gunicorn, rq, temporalio, alembic) go through the same
processors, so their lines have the same shape. Development gets a console renderer.

Every line passes :func:`redact_secrets` last: any registered secret value (see
:func:`register_secret`, called by the config manager for each secret it loads) is replaced
wherever it appears, and values under secret-looking keys are masked.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "**********"
_SECRET_KEYS = ("password", "secret", "token", "authorization", "api_key", "apikey")
_MIN_SECRET_LENGTH = 4

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that no log line can ever contain it."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.add(value)


def registered_secrets() -> frozenset[str]:
    with _secrets_lock:
        return frozenset(_secrets)


def _scrub(value: Any, secrets: Iterable[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _scrub_item(k, v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return _scrub(str(value), secrets)


def _scrub_item(key: object, value: Any, secrets: Iterable[str]) -> Any:
    if isinstance(key, str) and any(word in key.lower() for word in _SECRET_KEYS) and value:
        return REDACTED
    return _scrub(value, secrets)


def redact(text: str) -> str:
    """``text`` with every registered secret value masked (for error lines outside logging)."""
    result: str = _scrub(text, sorted(registered_secrets(), key=len, reverse=True))
    return result


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: mask registered secret values anywhere and values of secret-named keys."""
    secrets = sorted(registered_secrets(), key=len, reverse=True)
    return {k: _scrub_item(k, v, secrets) for k, v in event_dict.items()}


def container_id() -> str:
    return socket.gethostname()


def _static_fields(service: str) -> Processor:
    cid = container_id()

    def add_static(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        event_dict.setdefault("container_id", cid)
        return event_dict

    return add_static


def _upper_level(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    level = event_dict.get("level")
    if isinstance(level, str):
        event_dict["level"] = level.upper()
    return event_dict


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn duplicates its message with ANSI codes
    return event_dict


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is now (test capture replaces it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def shared_processors(service: str) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _static_fields(service),
        _drop_color_message,
    ]


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the standard library through one JSON (or console) formatter."""
    renderer: Processor
    final: list[Processor]
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(event_key="message")
        final = [_upper_level, structlog.processors.EventRenamer("message"), redact_secrets]
    else:
        renderer = structlog.processors.JSONRenderer()
        final = [
            _upper_level,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            redact_secrets,
        ]
    pre_chain = shared_processors(service)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final, renderer],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error", "rq.worker", "temporalio"):
        lib_logger = logging.getLogger(name)
        lib_logger.handlers.clear()
        lib_logger.propagate = True
    # Access lines are written by our own request middleware, with the request fields.
    for name in ("uvicorn.access", "gunicorn.access"):
        logging.getLogger(name).disabled = True
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))

    structlog.configure(
        processors=[
            *pre_chain,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger


def bind_context(**values: Any) -> None:
    structlog.contextvars.bind_contextvars(**values)


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()
