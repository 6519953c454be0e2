from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common import secret_rules
from common.config_manager import ConfigError, build_config, get_config, main
from common.settings import ENVIRONMENTS, parse_memory

from .conftest import JWT, PG_PASSWORD, REDIS_PASSWORD


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_file_loads(env: str, secrets_dir: Path) -> None:
    config = build_config(env, secrets_dir=secrets_dir)
    assert config.env == env
    assert config.api_service.port == 8000


def test_xorb_env_selects_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XORB_ENV", "test")
    monkeypatch.setenv("XORB_SECRETS_DIR", str(tmp_path))
    config = get_config()
    assert config.env == "test"
    assert config.temporal.task_queue == "xorb-orchestrator-test"
    assert get_config() is config  # loaded once


def test_environment_variables_override_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "TEMPORAL_HOST": "temporal.example:7233",
        "WORKERS": "3",
        "TIMEOUT": "90",
        "WORKER_CONCURRENCY": "8",
        "WORKER_MAX_MEMORY": "256m",
        "LOG_LEVEL": "debug",
        "DATABASE_HOST": "db.internal",
        "DEBUG": "true",
        "API_PORT": "8123",
    }.items():
        monkeypatch.setenv(name, value)
    config = build_config("staging", secrets_dir=tmp_path)
    assert config.temporal.host == "temporal.example:7233"
    assert config.api_service.workers == 3
    assert config.api_service.timeout == 90
    assert config.api_service.port == 8123
    assert config.worker.concurrency == 8
    assert config.worker.max_memory == 256 * 1024**2
    assert config.logging.level == "DEBUG"
    assert config.debug is True
    assert config.database.get_url().startswith("postgresql+psycopg://xorb@db.internal:5432/")


def test_secrets_come_from_files(secrets_dir: Path) -> None:
    config = build_config("production", secrets_dir=secrets_dir)
    assert config.database.password is not None
    assert config.database.password.get_secret_value() == PG_PASSWORD
    assert PG_PASSWORD in config.database.get_url()
    assert PG_PASSWORD not in config.database.safe_url()


def test_env_fallback_outside_production_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_PASSWORD", PG_PASSWORD)
    monkeypatch.setenv("JWT_SECRET", JWT)
    dev = build_config("development", secrets_dir=tmp_path)
    assert dev.database.password is not None
    with pytest.raises(ConfigError) as info:
        build_config("production", secrets_dir=tmp_path)
    assert any("postgres_password" in p for p in info.value.problems)


@pytest.mark.parametrize("missing", ["postgres_password", "jwt_secret", "redis_password"])
def test_production_refuses_a_missing_secret_and_names_it(secrets_dir: Path, missing: str) -> None:
    (secrets_dir / missing).unlink()
    with pytest.raises(ConfigError) as info:
        build_config("production", secrets_dir=secrets_dir)
    assert len(info.value.problems) == 1
    assert missing in info.value.problems[0]
    for value in (JWT, PG_PASSWORD, REDIS_PASSWORD):
        assert value not in str(info.value)


APP_RULES = [r for r in secret_rules.load().secrets.values() if r.setting]
BREAKS = {
    "missing": (None, "is missing (required in production)"),
    "empty": ("\n", "is empty (required in production)"),
    "placeholder": ("changeme", "is a placeholder word"),
    "too short": ("abc", "is too short: the rule is at least"),
}


@pytest.mark.parametrize("rule", APP_RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("breaks", BREAKS, ids=list(BREAKS))
def test_production_holds_every_rule_of_the_secrets_file(
    secrets_dir: Path, rule: secret_rules.Rule, breaks: str
) -> None:
    """The services at start-up refuse each secret that breaks each rule, naming both."""
    value, needle = BREAKS[breaks]
    path = secrets_dir / rule.name
    if value is None:
        path.unlink()
    else:
        path.write_text(value)
    with pytest.raises(ConfigError) as info:
        build_config("production", secrets_dir=secrets_dir)
    assert len(info.value.problems) == 1, info.value.problems
    problem = info.value.problems[0]
    assert problem.startswith(f"secret {rule.name} ") and needle in problem, problem


def test_production_refuses_placeholders(secrets_dir: Path) -> None:
    (secrets_dir / "postgres_password").write_text("changeme")
    with pytest.raises(ConfigError, match=r"postgres_password.*placeholder"):
        build_config("production", secrets_dir=secrets_dir)


def test_production_rejects_debug(monkeypatch: pytest.MonkeyPatch, secrets_dir: Path) -> None:
    monkeypatch.setenv("DEBUG", "1")
    with pytest.raises(ConfigError, match="DEBUG"):
        build_config("production", secrets_dir=secrets_dir)


def test_unknown_environment() -> None:
    with pytest.raises(ConfigError, match="XORB_ENV"):
        build_config("qa")


def test_secrets_never_in_repr(secrets_dir: Path) -> None:
    config = build_config("production", secrets_dir=secrets_dir)
    for text in (repr(config), str(config), config.model_dump_json()):
        assert PG_PASSWORD not in text
        assert JWT not in text


def test_vault_without_hvac_is_a_clear_problem(
    monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> None:
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:1")
    monkeypatch.setitem(sys.modules, "hvac", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match="hvac"):
        build_config("production", secrets_dir=secrets_dir)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512m", 512 * 1024**2),
        ("1g", 1024**3),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("2048", 2048),
        (7, 7),
    ],
)
def test_parse_memory(text: str | int, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1m", "12q"])
def test_parse_memory_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_memory(text)


def test_validate_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secrets_dir: Path
) -> None:
    monkeypatch.setenv("XORB_SECRETS_DIR", str(secrets_dir))
    assert main(["validate", "production"]) == 0
    (secrets_dir / "jwt_secret").unlink()
    assert main(["validate", "production"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("secret jwt_secret is missing")
    assert main(["bogus"]) == 2


def test_entry_point_prints_one_line(tmp_path: Path) -> None:
    env = {"XORB_ENV": "production", "XORB_SECRETS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "from common.config_manager import load_or_exit; load_or_exit()"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "postgres_password" in proc.stderr
