from __future__ import annotations

import json
import logging

import pytest

from common.log import configure_logging, get_logger, redact, register_secret


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_json_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("api", "INFO", "json")
    get_logger("t").info(
        "Request processed", duration=0.245, status_code=200, path="/x", request_id="r1"
    )
    (line,) = _lines(capsys)
    assert line["message"] == "Request processed"
    assert line["level"] == "INFO"
    assert line["service"] == "api"
    assert line["container_id"]
    assert str(line["timestamp"]).endswith("Z")
    assert {"duration", "status_code", "path", "request_id"} <= set(line)
    assert "event" not in line


def test_stdlib_loggers_share_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("worker", "INFO", "json")
    logging.getLogger("rq.worker").warning("from %s", "rq")
    (line,) = _lines(capsys)
    assert line["message"] == "from rq"
    assert line["level"] == "WARNING"
    assert line["service"] == "worker"


def test_secrets_are_redacted_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("api", "INFO", "json")
    secret = "very-secret-value-123"
    register_secret(secret)
    log = get_logger("t")
    log.info(f"connecting with {secret}", nested={"list": [secret]}, password="x1")
    logging.getLogger("other").error("dsn=postgresql://u:%s@h/db", secret)
    try:
        raise RuntimeError(f"failed: {secret}")
    except RuntimeError:
        log.exception("boom")
    out = capsys.readouterr().out
    assert secret not in out
    assert "**********" in out
    assert '"password": "**********"' in out
    assert redact(f"a {secret} b") == "a ********** b"


def test_console_renderer_in_development(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("api", "DEBUG", "console")
    get_logger("t").info("hello console")
    out = capsys.readouterr().out
    assert "hello console" in out
    assert not out.lstrip().startswith("{")
