"""The one configuration manager every service uses: ``config = get_config()``.

The environment comes from ``XORB_ENV`` (development | staging | production | test). Values
come from the environment's TOML file shipped inside this package (``common/config/``),
overridden by environment variables (``DATABASE_HOST``, ``TEMPORAL_HOST``, ``WORKERS`` ...).

Secrets are read from Docker secrets files (``$XORB_SECRETS_DIR/<name>``, default
``/run/secrets``), then from HashiCorp Vault when ``VAULT_ADDR`` is set (``hvac`` is imported
only then), and - outside production only - from environment variables. Production refuses
a missing or placeholder secret. Problems name the setting, never a value; every secret
loaded is registered with the log redactor.

``python -m common.config_manager validate ENV`` checks an environment without starting
anything and prints one problem per line.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from common.log import register_secret
from common.settings import ENVIRONMENTS, SECTIONS, Environment, XorbConfig

DEFAULT_SECRETS_DIR = "/run/secrets"
PLACEHOLDERS = frozenset(
    {"", "changeme", "change-me", "change_me", "placeholder", "secret", "password", "todo", "xxx"}
)


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` has one line per problem, no values."""

    def __init__(self, env: str, problems: Sequence[str]) -> None:
        self.env = env
        self.problems = list(problems)
        super().__init__(f"invalid {env} configuration: " + "; ".join(self.problems))

    def one_line(self) -> str:
        return f"xorb: {self}"


@dataclass(frozen=True)
class SecretSpec:
    """A secret: its file/Vault name, where it lands and its non-production env fallbacks."""

    name: str
    section: str
    field: str
    env_vars: tuple[str, ...]
    required_in_production: bool = True
    min_length: int = 1


SECRETS: tuple[SecretSpec, ...] = (
    SecretSpec(
        "postgres_password", "database", "password", ("DATABASE_PASSWORD", "POSTGRES_PASSWORD")
    ),
    SecretSpec(
        "jwt_secret", "security", "jwt_secret", ("JWT_SECRET", "SECURITY_JWT_SECRET"), min_length=32
    ),
    SecretSpec(
        "redis_password", "redis", "password", ("REDIS_PASSWORD",), required_in_production=False
    ),
)


def is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in PLACEHOLDERS or lowered.startswith(("<", "${", "changeme", "replace"))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def load_file(env: Environment) -> dict[str, Any]:
    """The environment's TOML file from inside the package (works from a read-only image)."""
    text = resources.files("common").joinpath("config", f"{env}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def read_secret_file(directory: Path, name: str) -> str | None:
    path = directory / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:  # unreadable secret: report the file, not its content
        raise ConfigError(
            "secrets", [f"secret {name}: cannot read {path} ({exc.strerror})"]
        ) from None


def read_vault_secrets(env: str, environ: Mapping[str, str], secrets_dir: Path) -> dict[str, str]:
    """Read the KV v2 secret ``$VAULT_PATH`` (default ``xorb/<env>``) when VAULT_ADDR is set."""
    addr = environ.get("VAULT_ADDR")
    if not addr:
        return {}
    try:
        import hvac  # optional dependency group "vault"
    except ImportError:
        raise ConfigError(env, ["VAULT_ADDR is set but hvac is not installed"]) from None
    token = environ.get("VAULT_TOKEN") or read_secret_file(secrets_dir, "vault_token")
    if token:
        register_secret(token)
    mount = environ.get("VAULT_MOUNT", "secret")
    path = environ.get("VAULT_PATH", f"xorb/{env}")
    try:
        client = hvac.Client(url=addr, token=token, timeout=5)
        response = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=mount, raise_on_deleted_version=True
        )
    except Exception as exc:
        raise ConfigError(
            env, [f"vault: cannot read {mount}/{path} at {addr} ({type(exc).__name__})"]
        ) from None
    data = response.get("data", {}).get("data", {})
    return {str(k): str(v) for k, v in data.items() if v is not None}


def _resolve_secrets(
    env: Environment, environ: Mapping[str, str], secrets_dir: Path, problems: list[str]
) -> dict[tuple[str, str], SecretStr | None]:
    vault = read_vault_secrets(env, environ, secrets_dir)
    production = env == "production"
    resolved: dict[tuple[str, str], SecretStr | None] = {}
    for spec in SECRETS:
        setting = f"{spec.section}.{spec.field}"
        value = read_secret_file(secrets_dir, spec.name)
        source = f"{secrets_dir / spec.name}"
        if value is None and spec.name in vault:
            value, source = vault[spec.name], "vault"
        if value is None and not production:
            for var in spec.env_vars:
                if environ.get(var):
                    value, source = environ[var], f"${var}"
                    break
        if value is not None:
            register_secret(value)
        if production:
            if value is None:
                if spec.required_in_production:
                    problems.append(
                        f"missing secret {spec.name} ({setting}): provide {secrets_dir / spec.name}"
                        + (" or Vault" if vault else "")
                    )
            elif is_placeholder(value):
                problems.append(f"secret {spec.name} ({setting}) is a placeholder ({source})")
            elif len(value) < spec.min_length:
                problems.append(
                    f"secret {spec.name} ({setting}) is too short:"
                    f" at least {spec.min_length} characters"
                )
        resolved[(spec.section, spec.field)] = SecretStr(value) if value is not None else None
    return resolved


def _production_rules(config: XorbConfig, problems: list[str]) -> None:
    if config.debug:
        problems.append("DEBUG must be false in production")
    if config.api_service.debug_endpoints:
        problems.append("api_service.debug_endpoints must be false in production")
    if config.logging.format != "json":
        problems.append("logging.format must be json in production")


def build_config(
    env: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    secrets_dir: str | Path | None = None,
) -> XorbConfig:
    """Load and check one environment's configuration; raise :class:`ConfigError`.

    Section values read ``os.environ`` (pydantic-settings); ``environ`` only replaces the
    variables this function reads itself (XORB_ENV, DEBUG, secrets fallbacks, Vault).
    """
    environ = os.environ if environ is None else environ
    name = env or environ.get("XORB_ENV", "development")
    if name not in ENVIRONMENTS:
        raise ConfigError(name, [f"XORB_ENV={name!r} is not one of {', '.join(ENVIRONMENTS)}"])
    env_name: Environment = name
    directory = Path(secrets_dir or environ.get("XORB_SECRETS_DIR") or DEFAULT_SECRETS_DIR)
    file_data = load_file(env_name)
    problems: list[str] = []

    sections: dict[str, Any] = {}
    for key, section_cls in SECTIONS.items():
        try:
            sections[key] = section_cls(**file_data.get(key, {}))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(p) for p in error["loc"])
                problems.append(f"{key}.{field}: {error['msg']}")  # pydantic msgs carry no input

    secrets = _resolve_secrets(env_name, environ, directory, problems)
    if problems:
        raise ConfigError(env_name, problems)
    for (section, field), value in secrets.items():
        sections[section] = sections[section].model_copy(update={field: value})
    for section in ("database", "redis"):
        url = sections[section].url
        if url is not None:
            register_secret(url.get_secret_value())
    register_secret(sections["database"].get_url())
    register_secret(sections["redis"].get_url())

    debug_raw = environ.get("DEBUG")
    debug = _truthy(debug_raw) if debug_raw is not None else bool(file_data.get("debug", False))
    config = XorbConfig(env=env_name, debug=debug, secrets_dir=str(directory), **sections)
    if env_name == "production":
        _production_rules(config, problems)
    if problems:
        raise ConfigError(env_name, problems)
    return config


@lru_cache(maxsize=1)
def get_config() -> XorbConfig:
    """The configuration of ``$XORB_ENV``, loaded once per process."""
    return build_config()


def reset_config_cache() -> None:
    get_config.cache_clear()


def load_or_exit() -> XorbConfig:
    """For entry points: the config, or one line on stderr naming what is wrong and exit 2."""
    try:
        return get_config()
    except ConfigError as exc:
        print(exc.one_line(), file=sys.stderr)
        raise SystemExit(2) from None


def validate(env: str) -> list[str]:
    """Problems with an environment's configuration (empty when it is usable)."""
    try:
        build_config(env)
    except ConfigError as exc:
        return exc.problems
    return []


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "validate":
        print("usage: python -m common.config_manager validate ENV", file=sys.stderr)
        return 2
    problems = validate(args[1])
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{args[1]}: configuration is valid")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
