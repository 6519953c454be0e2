"""Typed settings models, one per concern.

Each model is a pydantic-settings class with its own environment prefix (``DATABASE_``,
``REDIS_`` ...), so the variables the deployment guide names work unchanged. Values come
from, highest precedence first: environment variables, then the per-environment TOML file
shipped in ``common/config/`` (passed in as init values), then the defaults below.
Secret fields are filled in afterwards by :mod:`common.config_manager`, which applies the
production rules (files or Vault only, never the environment).
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import URL, make_url

Environment = Literal["development", "staging", "production", "test"]
ENVIRONMENTS: tuple[Environment, ...] = ("development", "staging", "production", "test")

FALLBACK_VERSION = "0.1.0"
"""The project version (pyproject.toml) where the ``xorb`` distribution is not installed,
i.e. inside the service images."""


def package_version() -> str:
    """The installed ``xorb`` distribution's version, else :data:`FALLBACK_VERSION`."""
    try:
        return metadata.version("xorb")
    except metadata.PackageNotFoundError:
        return FALLBACK_VERSION


_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_memory(value: str | int) -> int:
    """Parse a Docker-style memory size (``512m``, ``1g``, ``1.5GiB``, ``1048576``) to bytes."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError("memory size must not be negative")
        return value
    match = _MEMORY_RE.match(value)
    if match is None:
        raise ValueError(f"not a memory size: {value!r} (use e.g. 512m or 1g)")
    number, unit = match.groups()
    return int(float(number) * _MEMORY_UNITS[unit.lower()])


class _Section(BaseSettings):
    """Environment variables win over the file values passed as init arguments."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


class DatabaseSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="DATABASE_", extra="ignore", frozen=True)

    host: str = "localhost"
    port: int = Field(default=5432, ge=1, le=65535)
    name: str = "xorb"
    user: str = "xorb"
    password: SecretStr | None = None
    url: SecretStr | None = Field(
        default=None, description="Full SQLAlchemy URL; overrides host/port/name/user."
    )
    pool_size: int = Field(default=5, ge=1)
    connect_timeout: int = Field(default=5, ge=1)

    def get_url(self) -> str:
        """The SQLAlchemy URL (psycopg 3 driver), password included: never log it."""
        return self.url_object().render_as_string(hide_password=False)

    def url_object(self) -> URL:
        if self.url is not None:
            url = make_url(self.url.get_secret_value())
            if url.drivername in ("postgresql", "postgres"):
                url = url.set(drivername="postgresql+psycopg")
            if url.password is None and self.password is not None:
                url = url.set(password=self.password.get_secret_value())
            return url
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password.get_secret_value() if self.password else None,
            host=self.host,
            port=self.port,
            database=self.name,
        )

    def safe_url(self) -> str:
        """The URL with the password masked, for logs and error messages."""
        return self.url_object().render_as_string(hide_password=True)


class RedisSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="REDIS_", extra="ignore", frozen=True)

    host: str = "localhost"
    port: int = Field(default=6379, ge=1, le=65535)
    db: int = Field(default=0, ge=0)
    password: SecretStr | None = None
    url: SecretStr | None = None
    socket_timeout: float = Field(default=5.0, gt=0)

    def get_url(self) -> str:
        """``redis://`` URL, password included: never log it."""
        if self.url is not None:
            url = make_url(self.url.get_secret_value())
            if url.password is None and self.password is not None:
                url = url.set(password=self.password.get_secret_value())
            return url.render_as_string(hide_password=False)
        auth = f":{self.password.get_secret_value()}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{self.db}"


class TemporalSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="TEMPORAL_", extra="ignore", frozen=True)

    host: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "xorb-orchestrator"
    connect_timeout: float = Field(default=5.0, gt=0)
    workflow_timeout: int = Field(default=300, ge=1, description="Workflow execution timeout, s")


class ApiServiceSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="API_", extra="ignore", frozen=True)

    port: int = Field(
        default=8000, ge=1, le=65535, validation_alias=AliasChoices("API_PORT", "PORT", "port")
    )
    workers: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("WORKERS", "workers")
    )
    timeout: int = Field(default=60, ge=1, validation_alias=AliasChoices("TIMEOUT", "timeout"))
    graceful_timeout: int = Field(
        default=30, ge=1, validation_alias=AliasChoices("GRACEFUL_TIMEOUT", "graceful_timeout")
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    rate_limit: str = "120/minute"
    rate_limit_storage: str | None = Field(
        default=None, description="limits storage URI; default: the Redis of this config"
    )
    debug_endpoints: bool = False
    docs_enabled: bool = True
    version: str = Field(
        default_factory=package_version,
        min_length=1,
        max_length=128,
        validation_alias=AliasChoices("XORB_VERSION", "version"),
        description="The running release, reported by /health (deploys set XORB_VERSION)",
    )
    readiness_timeout: float = Field(default=2.0, gt=0)


class WorkerSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="WORKER_", extra="ignore", frozen=True)

    concurrency: int = Field(default=2, ge=1, le=64)
    max_memory: int = Field(default=512 * 1024**2, description="Bytes; accepts 512m, 1g ...")
    queue: str = "xorb-jobs"
    job_timeout: int = Field(default=300, ge=1)
    retries: int = Field(default=3, ge=0)
    retry_intervals: list[int] = Field(default_factory=lambda: [1, 2, 5])
    heartbeat_interval: int = Field(default=1, ge=1)
    heartbeat_grace: int = Field(
        default=3, ge=1, description="Seconds a missed heartbeat is tolerated"
    )
    maintenance_interval: int = Field(default=1, ge=1)
    db_retry_timeout: float = Field(
        default=120.0,
        ge=0,
        description="Seconds a job keeps retrying a result write while PostgreSQL is away",
    )
    shutdown_timeout: int = Field(
        default=30,
        ge=1,
        description="Seconds a warm shutdown lets running jobs finish before stopping cold; "
        "below compose's stop_grace_period (40 s), so the container still exits by itself",
    )
    result_ttl: int = Field(default=86_400, ge=0)
    health_port: int = Field(default=9002, ge=0, le=65535)

    @field_validator("max_memory", mode="before")
    @classmethod
    def _parse_memory(cls, value: object) -> int:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return parse_memory(value)
        raise ValueError("expected a memory size such as 512m")


class OrchestratorSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", extra="ignore", frozen=True)

    health_port: int = Field(
        default=9001, ge=0, le=65535, description="/health, /metrics, /ready and /workflows"
    )
    url: str = Field(
        default="http://localhost:9001",
        pattern=r"^https?://",
        description="Where the API reaches the orchestrator's HTTP API (ORCHESTRATOR_URL)",
    )
    request_timeout: float = Field(
        default=5.0, gt=0, description="API -> orchestrator request timeout, seconds"
    )
    temporal_timeout: float = Field(
        default=3.0,
        gt=0,
        description="Orchestrator HTTP API -> Temporal call timeout, seconds "
        "(keep it below request_timeout so a slow Temporal is reported as such)",
    )
    dependency_url: str = "http://localhost:8000/health"
    http_timeout: float = Field(default=3.0, gt=0)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_ttl: float = Field(default=30.0, gt=0)
    graceful_shutdown_timeout: int = Field(default=30, ge=0)
    max_concurrent_activities: int = Field(default=20, ge=1)
    connect_attempts: int = Field(default=30, ge=1)


class LoggingSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore", frozen=True)

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["json", "console"] = "json"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class SecuritySettings(_Section):
    model_config = SettingsConfigDict(env_prefix="SECURITY_", extra="ignore", frozen=True)

    jwt_secret: SecretStr | None = None
    jwt_algorithm: str = "HS256"
    hsts: bool = False


class XorbConfig(BaseModel):
    """The whole configuration of one environment."""

    model_config = {"frozen": True}

    env: Environment
    debug: bool = False
    secrets_dir: str = "/run/secrets"
    database: DatabaseSettings
    redis: RedisSettings
    temporal: TemporalSettings
    api_service: ApiServiceSettings
    worker: WorkerSettings
    orchestrator: OrchestratorSettings
    logging: LoggingSettings
    security: SecuritySettings


SECTIONS: dict[str, type[_Section]] = {
    "database": DatabaseSettings,
    "redis": RedisSettings,
    "temporal": TemporalSettings,
    "api_service": ApiServiceSettings,
    "worker": WorkerSettings,
    "orchestrator": OrchestratorSettings,
    "logging": LoggingSettings,
    "security": SecuritySettings,
}
