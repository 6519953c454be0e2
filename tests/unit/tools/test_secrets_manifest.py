"""common/secrets.toml: one definition of every secret's rules, for the services, the
stack files and ``inv secrets.init``; and secret files are never tracked."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.docker.conftest import run_inv

from common import secret_rules
from common.settings import SECTIONS
from xorb_tools.core.services import ROOT
from xorb_tools.deploy import secrets_init, stack

RULES = secret_rules.load()


@pytest.mark.parametrize("rule", [r for r in RULES.secrets.values() if r.setting], ids=str)
def test_every_application_secret_fills_a_config_field(rule: secret_rules.Rule) -> None:
    section, _, field = (rule.setting or "").partition(".")
    assert section in SECTIONS and field in SECTIONS[section].model_fields, rule.setting


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_every_secret_file_a_stack_mounts_has_a_rule(environment: str) -> None:
    opened = stack.open_stack(environment, resolve_images=False)
    opened.profiles.append(stack.GRAFANA)
    for name in stack.secret_files(stack.render(opened)):
        assert name in RULES.secrets, name
        assert RULES.secrets[name].required_in(environment), name


def test_generated_values_meet_their_rules() -> None:
    for rule in RULES.secrets.values():
        if rule.kind == "text":
            value = secrets_init.random_value(rule.min_length)
            assert RULES.problem(rule, value, "production") is None, rule.name


def test_secret_files_are_never_tracked() -> None:
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "secrets/*" in ignore and "!secrets/README.md" in ignore


def test_config_validate_holds_the_stack_secrets_to_their_rules(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    created, _ = stack.init_secrets("production", folder)
    assert stack.validate("production", folder) == []
    (folder / "tls_cert").write_text("not a certificate\n")
    (folder / "tls_key").write_text("-----BEGIN NOTHING-----\n")
    (folder / "grafana_admin_password").write_text("admin")
    problems = stack.validate("production", folder)
    assert sorted(p.split(" (")[0] for p in problems) == [
        "secret grafana_admin_password is too short: the rule is at least 16 characters",
        "secret tls_cert is not a PEM certificate",
        "secret tls_key is not a PEM private key",
    ], problems
    assert {c.state for c in created} == {"created"}


def test_inv_config_validate_production_names_the_secret_and_the_rule(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    stack.init_secrets("production", folder)
    assert run_inv("config.validate", "production", "--secrets-dir", str(folder)).code == 0
    (folder / "postgres_password").write_text("abc")
    (folder / "jwt_secret").write_text("changeme")
    (folder / "redis_password").unlink()
    result = run_inv("config.validate", "production", "--secrets-dir", str(folder))
    assert result.code == 1, result.out
    for needle in (
        "secret postgres_password is too short: the rule is at least 24 characters",
        "secret jwt_secret is a placeholder word",
        "secret redis_password is missing (required in production)",
    ):
        assert needle in result.out, result.out
    assert result.lines[-1].startswith("error: production configuration has")
