"""The compose stack logic without an engine: file selection, arguments, secrets."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from common import secret_rules
from common.config_manager import load_file
from common.settings import SECTIONS
from xorb_tools.core import names
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import ROOT
from xorb_tools.deploy import secrets_init, stack
from xorb_tools.rootfs import infra


@pytest.mark.parametrize("environment", ["development", "production"])
def test_each_stack_has_its_file_and_project(environment: str) -> None:
    path = stack.compose_file(environment)
    assert path == ROOT / "compose" / f"docker-compose.{environment}.yml"
    assert names.project_name(environment) == f"xorb-{environment}"
    text = path.read_text()
    assert f"name: ${{XORB_PROJECT:-xorb}}-{environment}" in text
    assert "extends: {file: docker-compose.yml" in text  # composed from the base


def test_unknown_environment_is_one_sentence() -> None:
    with pytest.raises(XorbError, match=r"Unknown environment 'qa': choose from"):
        stack.compose_file("qa")


def test_environment_without_a_stack_names_the_stacks() -> None:
    with pytest.raises(XorbError, match=r"no compose stack for test.*development, production"):
        stack.compose_file("test")


def test_open_stack_variables_never_hold_secret_values(tmp_path: Path) -> None:
    s = stack.open_stack("production", secrets_dir=tmp_path, resolve_images=False)
    assert s.variables == {
        "XORB_PROJECT": "xorb",
        "XORB_SECRETS": str(tmp_path.resolve()),
        "XORB_IMAGE_TAG": "production",
        stack.SWITCH_DIR_VAR: str(stack.switch_dir("production")),  # a folder, not a secret
    }
    assert re.fullmatch(r"xorb-production-[0-9a-f]{12}\.env", s.env_file.name)
    assert stack.env_lines(s.variables).splitlines()[0].startswith("XORB_IMAGE_TAG=")


def test_concurrent_stacks_of_one_project_never_share_an_env_file(tmp_path: Path) -> None:
    """A resilience run caught `inv restart` reading another command's env file."""
    one = stack.open_stack("production", secrets_dir=tmp_path / "a", resolve_images=False)
    two = stack.open_stack("production", secrets_dir=tmp_path / "b", resolve_images=False)
    same = stack.open_stack("production", secrets_dir=tmp_path / "a", resolve_images=False)
    assert one.project == two.project
    assert one.env_file != two.env_file and one.env_file == same.env_file


def test_env_files_lists_only_that_projects_files(tmp_path: Path) -> None:
    mine = [tmp_path / "xorb-test-0123456789ab.env", tmp_path / "xorb-test-ffffffffffff.env"]
    others = ["xorb-test-extra-0123456789ab.env", "xorb-testing-0123456789ab.env", "x.env"]
    for path in [*mine, *(tmp_path / n for n in others)]:
        path.write_text("XORB_IMAGE_TAG=test\n")
    assert names.env_files("xorb-test", tmp_path) == mine


def test_env_lines_refuse_multiline_values() -> None:
    with pytest.raises(XorbError, match="one line"):
        stack.env_lines({"X": "a\nb"})


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [(["worker=4"], {"worker": 4}), (["worker=4", "api=2"], {"worker": 4, "api": 2})],
)
def test_parse_scales(pairs: list[str], expected: dict[str, int]) -> None:
    assert stack.parse_scales(pairs) == expected


@pytest.mark.parametrize("bad", [["worker"], ["worker=x"], ["=3"], []])
def test_parse_scales_rejects(bad: list[str]) -> None:
    with pytest.raises(XorbError):
        stack.parse_scales(bad)


def test_secret_files_and_missing(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("value")
    (tmp_path / "empty").write_text("")
    config = {
        "secrets": {
            "a": {"file": str(tmp_path / "a")},
            "empty": {"file": str(tmp_path / "empty")},
            "b": {"file": str(tmp_path / "b")},
            "external": {"external": True},
        }
    }
    files = stack.secret_files(config)
    assert set(files) == {"a", "empty", "b"}
    assert secrets_init.missing(files) == ["empty", "b"]


def test_check_services_names_the_known_ones() -> None:
    config: dict[str, dict[str, object]] = {"services": {"api": {}, "worker": {}}}
    assert stack.check_services(config, ["api"]) == ["api"]
    with pytest.raises(XorbError, match=r"Unknown service.*nope.*api, worker"):
        stack.check_services(config, ["nope"])


def test_the_rules_list_what_each_environment_needs() -> None:
    rules = secret_rules.load()
    assert secrets_init.required_names(rules, "development") == (
        "postgres_password",
        "jwt_secret",
    )
    assert "redis_password" in secrets_init.required_names(rules, "production")
    assert rules.secrets["jwt_secret"].min_length >= 32


def test_rules_file_errors_name_the_secret() -> None:
    with pytest.raises(ValueError, match="environments"):
        secret_rules.parse({"secrets": {"x": {"min-length": 3}}})
    with pytest.raises(ValueError, match="kind"):
        secret_rules.parse({"secrets": {"x": {"environments": [], "kind": "jpeg"}}})
    with pytest.raises(ValueError, match="min-length"):
        secret_rules.parse({"secrets": {"x": {"environments": [], "min-length": 0}}})


def test_create_writes_strong_values_once(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    rules = secret_rules.load()
    names = ["postgres_password", "jwt_secret", "tls_cert", "tls_key", "grafana_admin_password"]
    first, notes = secrets_init.create(folder, names, rules, gid=-1)
    assert notes == []
    assert {c.state for c in first} == {"created"}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    values = {}
    for name in names:
        mode = stat.S_IMODE((folder / name).stat().st_mode)
        assert mode in (secrets_init.FILE_MODE, secrets_init.FALLBACK_MODE), name
        assert not mode & 0o002
        values[name] = (folder / name).read_bytes()
    assert len(values["jwt_secret"]) >= 64
    assert values["jwt_secret"] != values["postgres_password"]
    cert = x509.load_pem_x509_certificate(values["tls_cert"])
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert b"PRIVATE KEY" in values["tls_key"]

    second, _ = secrets_init.create(folder, names, rules, gid=-1)
    assert {c.state for c in second} == {"exists"}
    assert all((folder / n).read_bytes() == values[n] for n in names)  # never overwritten
    forced, _ = secrets_init.create(folder, names, rules, gid=-1, force=True)
    assert {c.state for c in forced} == {"exists"}  # --force replaces only what is weak
    assert all((folder / n).read_bytes() == values[n] for n in names)


def test_weak_existing_secrets_are_reported_and_replaced_only_with_force(tmp_path: Path) -> None:
    rules = secret_rules.load()
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "postgres_password").write_text("")
    (folder / "jwt_secret").write_text("abc")
    (folder / "tls_cert").write_text("not a certificate")
    (folder / "tls_key").write_text("not a key")
    names = ["postgres_password", "jwt_secret", "tls_cert", "tls_key"]
    found, notes = secrets_init.create(folder, names, rules, gid=-1)
    states = {c.name: c.state for c in found}
    assert states["postgres_password"] == "exists, but empty"
    assert states["jwt_secret"].startswith("exists, but too short")
    assert states["tls_cert"] == "exists, but not a PEM certificate"
    assert (folder / "jwt_secret").read_text() == "abc"  # reported, not replaced
    # the folder it did not create keeps its mode, and is called too open
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert len(notes) == 1 and "open to others (mode 0755)" in notes[0]
    forced, _ = secrets_init.create(folder, names, rules, gid=-1, force=True)
    assert {c.state for c in forced} == {"replaced"}
    assert all(rules.problem(rules.secrets[n], (folder / n).read_text(), "production") is None
               for n in names)  # fmt: skip


def test_a_file_where_the_folder_should_be_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "secrets").write_text("")
    with pytest.raises(XorbError, match="is a file, not a folder"):
        secrets_init.create(tmp_path / "secrets", ["jwt_secret"], secret_rules.load(), gid=-1)


def test_a_lone_half_of_the_tls_pair_is_reported(tmp_path: Path) -> None:
    (tmp_path / "tls_cert").write_text("old")
    with pytest.raises(XorbError, match="without its pair"):
        secrets_init.create(tmp_path, ["tls_cert", "tls_key"], secret_rules.load(), gid=-1)
    assert (tmp_path / "tls_cert").read_text() == "old"


def test_random_values_meet_the_minimum() -> None:
    assert len(secrets_init.random_value(200)) >= 200
    assert secrets_init.random_value() != secrets_init.random_value()


def test_secret_names_cannot_escape_the_folder(tmp_path: Path) -> None:
    with pytest.raises(XorbError, match="plain file name"):
        secrets_init.create(tmp_path, ["../x"], secret_rules.load(), gid=-1)


# The setting each service drains by on SIGTERM before it exits by itself.
DRAIN = {
    "api": ("api_service", "graceful_timeout"),
    "orchestrator": ("orchestrator", "graceful_shutdown_timeout"),
    "worker": ("worker", "shutdown_timeout"),
}


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (no engine)")
@pytest.mark.parametrize("environment", ["development", "staging", "production"])
def test_every_service_drains_within_its_stop_grace_period(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drain longer than the grace period ends in SIGKILL mid-job (was: worker 60 s > 40 s)."""
    compose_file = str(stack.compose_file(environment))
    resolved = subprocess.run(
        ["docker", "compose", "-f", compose_file, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    services = json.loads(resolved.stdout)["services"]
    file_data = load_file(environment)  # type: ignore[arg-type]
    for name, (section, field) in DRAIN.items():
        for key, value in (services[name].get("environment") or {}).items():
            monkeypatch.setenv(key, str(value))
        drain = getattr(SECTIONS[section](**file_data.get(section, {})), field)
        grace = services[name]["stop_grace_period"]
        assert grace.endswith("s") and grace[:-1].isdigit(), grace
        assert drain + 5 <= int(grace[:-1]), f"{name}: drains {drain} s, killed after {grace}"


@pytest.mark.parametrize("environment", ["development", "staging", "production"])
def test_the_air_gapped_temporal_keeps_workflows_on_disk_where_it_matters(
    environment: str,
) -> None:
    dev_server = infra.get("temporal").ref
    opened = stack.Stack(
        environment, stack.compose_file(environment), {"XORB_TEMPORAL_IMAGE": dev_server}
    )
    stack.durable_temporal(opened)
    durable = environment in ("staging", "production")
    assert (stack.TEMPORAL_DURABLE in opened.extra_files) == durable
    assert bool(opened.notes) == durable
    official = stack.Stack(environment, stack.compose_file(environment), {})
    official.variables["XORB_TEMPORAL_IMAGE"] = "temporalio/auto-setup:1.25"
    stack.durable_temporal(official)
    assert official.extra_files == []
    # the override renders with the stack: the dev server gets a database file on a volume
    if durable:
        opened.variables["XORB_SECRETS"] = "/tmp/s"
        rendered = stack.render(opened)
        temporal = rendered["services"]["temporal"]
        assert "/data/temporal.db" in temporal["command"]
        assert any(v.get("source") == "temporal-data" for v in temporal["volumes"])
