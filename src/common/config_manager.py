"""The one configuration manager every service uses: ``config = get_config()``.

The environment comes from ``XORB_ENV`` (development | staging | production | test). Values
come from the environment's TOML file shipped inside this package (``common/config/``),
overridden by environment variables (``DATABASE_HOST``, ``TEMPORAL_HOST``, ``WORKERS`` ...).

Secrets are read from Docker secrets files (``$XORB_SECRETS_DIR/<name>``, default
``/run/secrets``), then from HashiCorp Vault when ``VAULT_ADDR`` is set (``hvac`` is imported
only then), and - outside production only - from environment variables. Production holds
every secret to its rules in ``common/secrets.toml`` (:mod:`common.secret_rules`: required,
long enough, no placeholder), the same rules ``inv secrets.init`` and ``inv config.validate``
apply. Problems name the secret and the rule, never a value; every secret loaded is
registered with the log redactor.

``python -m common.config_manager validate ENV`` checks an environment without starting
anything and prints one problem per line.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from common import secret_rules
from common.log import register_secret
from common.settings import ENVIRONMENTS, SECTIONS, Environment, XorbConfig

DEFAULT_SECRETS_DIR = "/run/secrets"


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` has one line per problem, no values."""

    def __init__(self, env: str, problems: Sequence[str]) -> None:
        self.env = env
        self.problems = list(problems)
        super().__init__(f"invalid {env} configuration: " + "; ".join(self.problems))

    def one_line(self) -> str:
        return f"xorb: {self}"


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
    """The application secrets (the rules with a ``setting``), from their files, Vault, or
    outside production their variables. In production every rule of ``common/secrets.toml``
    holds: required, long enough, not a placeholder."""
    rules = secret_rules.load()
    vault = read_vault_secrets(env, environ, secrets_dir)
    production = env == "production"
    resolved: dict[tuple[str, str], SecretStr | None] = {}
    for rule in rules.secrets.values():
        if rule.setting is None:
            continue  # a stack secret (nginx, Grafana): no config field reads it
        section, _, field = rule.setting.partition(".")
        value = read_secret_file(secrets_dir, rule.name)
        source = f"{secrets_dir / rule.name}"
        if value is None and rule.name in vault:
            value, source = vault[rule.name], "vault"
        if value is None and not production:
            for var in rule.env_vars:
                if environ.get(var):
                    value, source = environ[var], f"${var}"
                    break
        if value:
            register_secret(value)
        if production and (problem := rules.problem(rule, value, env)):
            where = f"provide {source}" + (" or Vault" if vault else "")
            problems.append(f"{problem} ({rule.setting}): {where}")
        resolved[(section, field)] = SecretStr(value) if value else None
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
