"""Structured logging: one JSON object per line, the same shape from every service.

Fields: ``timestamp`` (ISO 8601, UTC), ``level`` (upper case), ``service``, ``container_id``
(the hostname, which Docker sets to the short container id), ``message``, plus whatever the
caller binds (requests add ``duration``, ``status_code``, ``path``, ``request_id``).
Standard-library loggers (uvicorn, gunicorn, rq, temporalio, alembic) go through the same
processors, so their lines have the same shape. Development gets a console renderer.

Every line passes one rule set, for both renderers: the event is scrubbed
(:func:`redact_secrets`), and so is the rendered line (tracebacks and reprs included). Any
registered secret value (:func:`register_secret`, called by the config manager for each
secret it loads) is replaced wherever it appears; values under secret-looking keys
(password, passwd, token, private_key, credentials, dsn, cookie, ...), after such a key in
text (``password=x``, a ``%s``-formatted dict) and the password of a URL are masked.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import threading
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "**********"
_SECRET_KEYS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "credential",
    "dsn",
    "cookie",
)
_MIN_SECRET_LENGTH = 4
_WORDS = "|".join(_SECRET_KEYS)
# In free text (exception messages, %-formatted dicts, DSNs): the value after a
# secret-looking key (`password=x`, `'passwd': 'x'`, `"token": "x"`) and the password of
# a URL (`postgresql://user:pass@host`).
_KEY_VALUE = re.compile(
    rf"""(?ix)(['"]?[\w.-]*(?:{_WORDS})[\w.-]*['"]?\s*[:=]\s*)(['"]?)([^'"\s,;}})&]+)"""
)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/?#\s@]*:)([^@\s/]+)@")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{4,}")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that no log line can ever contain it.

    A multi-line value (a PEM key) is also remembered line by line, so it is masked in
    any form a line can take: a ``repr`` or JSON escapes its newlines.
    """
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    forms = {value}
    if "\n" in value:
        forms |= {ln.strip() for ln in value.splitlines() if len(ln.strip()) >= 8}
        forms -= {ln for ln in forms if ln.startswith("-----")}  # PEM armour is no secret
    with _secrets_lock:
        _secrets.update(forms)


def registered_secrets() -> frozenset[str]:
    with _secrets_lock:
        return frozenset(_secrets)


def _scrub_text(value: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in value:
            value = value.replace(secret, REDACTED)
    value = _URL_PASSWORD.sub(rf"\1{REDACTED}@", value)
    value = _BEARER.sub(rf"\1 {REDACTED}", value)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", value)


def _scrub(value: Any, secrets: Iterable[str]) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    if isinstance(value, dict):
        return {k: _scrub_item(k, v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return _scrub(str(value), secrets)


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and any(word in key.lower() for word in _SECRET_KEYS)


def _scrub_item(key: object, value: Any, secrets: Iterable[str]) -> Any:
    if _secret_key(key) and value:
        return REDACTED
    return _scrub(value, secrets)


def _ordered() -> list[str]:
    return sorted(registered_secrets(), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every registered secret value, URL password and ``key=value`` secret
    masked (for error lines outside logging)."""
    return _scrub_text(text, _ordered())


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: mask registered secret values anywhere and values of secret-named keys."""
    secrets = _ordered()
    return {k: _scrub_item(k, v, secrets) for k, v in event_dict.items()}


def _redacted(renderer: Processor) -> Processor:
    """``renderer`` whose finished line is scrubbed once more: what it adds itself (the
    console renderer's traceback, an object's repr) passes the same rules."""

    def render(logger: WrappedLogger, name: str, event_dict: EventDict) -> Any:
        out = renderer(logger, name, event_dict)
        return redact(out) if isinstance(out, str) else out

    return render


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
        # Plain tracebacks: rich's would print every frame's local variables.
        renderer = structlog.dev.ConsoleRenderer(
            event_key="message", exception_formatter=structlog.dev.plain_traceback
        )
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
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *final,
            _redacted(renderer),
        ],
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
