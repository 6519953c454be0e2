"""Unit tests of the services: no servers, no network, a clean environment per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.config_manager import reset_config_cache

_PREFIXES = (
    "XORB_",
    "DATABASE_",
    "REDIS_",
    "TEMPORAL_",
    "API_",
    "WORKER_",
    "ORCHESTRATOR_",
    "LOG_",
    "SECURITY_",
    "VAULT_",
)
_NAMES = (
    "WORKERS",
    "TIMEOUT",
    "GRACEFUL_TIMEOUT",
    "DEBUG",
    "PORT",
    "JWT_SECRET",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
)

JWT = "unit-test-jwt-secret-0123456789abcdef"
PG_PASSWORD = "unit-test-pg-password-s3cr3t"
REDIS_PASSWORD = "unit-test-redis-password-0123"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name in _NAMES:
            monkeypatch.delenv(name)
    reset_config_cache()
    yield
    reset_config_cache()


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "postgres_password").write_text(PG_PASSWORD + "\n")
    (directory / "jwt_secret").write_text(JWT)
    (directory / "redis_password").write_text(REDIS_PASSWORD)
    return directory
