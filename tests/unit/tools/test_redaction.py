"""Redaction that holds: every secret a real ``secrets.init`` run makes, logged every way a
service could (message, bound value, nested value, exception text, a traceback's frame
locals, ``%s``-formatted dicts, a DSN), through both renderers; none of the values may
appear in the output. Also values the config manager never registered, under the key
names and in the shapes secrets usually take."""

from __future__ import annotations

import logging

import pytest

from common import secret_rules
from common.log import configure_logging, get_logger, register_secret
from xorb_tools.deploy import secrets_init

RENDERERS = ["json", "console"]
UNREGISTERED = {
    "private_key": "unregistered-private-key-0001",
    "passwd": "unregistered-passwd-0002",
    "credentials": "unregistered-credentials-0003",
    "dsn_password": "unregistered-dsn-password-0004",
    "cookie": "unregistered-cookie-0005",
    "bearer": "unregisteredbearertoken0006",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every secret of a production ``secrets.init`` run (the TLS key included)."""
    folder = tmp_path_factory.mktemp("secrets") / "secrets"
    rules = secret_rules.load()
    names = [*secrets_init.required_names(rules, "production")]
    created, _ = secrets_init.create(folder, names, rules, environment="production", gid=-1)
    assert {c.state for c in created} == {"created"}
    values = {c.name: c.path.read_text().strip() for c in created if c.name != "tls_cert"}
    assert len(values) >= 5
    return values


def _log_everything(values: dict[str, str]) -> None:
    log = get_logger("redaction")
    std = logging.getLogger("redaction.stdlib")
    for name, value in values.items():
        log.info(f"connecting with {value}", secret_name=name)
        log.info("bound", value=value, nested={"list": [value], "inner": {"x": value}})
        std.warning("settings %s", {"password": value, "user": "xorb"})
        std.error("dsn %s", f"postgresql://xorb:{value}@postgres:5432/xorb")
        try:
            password = value  # a frame local: rich's traceback would print it
            raise RuntimeError(f"login failed for {password}")
        except RuntimeError:
            log.exception("boom")
            std.exception("stdlib boom")
    u = UNREGISTERED
    log.info("keys", private_key=u["private_key"], passwd=u["passwd"], cookie=u["cookie"])
    log.info("nested", config={"credentials": u["credentials"]})
    std.info("cfg %s", {"passwd": u["passwd"], "private_key": u["private_key"]})
    std.info("connect %s", f"postgresql://xorb:{u['dsn_password']}@db/xorb")
    log.info(f"header Authorization: Bearer {u['bearer']}")
    log.info("cookie set", headers={"Cookie": u["cookie"]})


@pytest.mark.parametrize("renderer", RENDERERS)
def test_no_secret_value_reaches_any_renderer(
    renderer: str, generated: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    for value in generated.values():
        register_secret(value)  # what the config manager does for each secret it loads
    configure_logging("api", "DEBUG", renderer)
    _log_everything(generated)
    out = capsys.readouterr().out
    assert out.count("\n") > 30, out[:500]  # everything was logged
    leaked = [name for name, value in {**generated, **UNREGISTERED}.items() if value in out]
    # a PEM key leaks by any of its base64 lines, not just as a whole
    key_lines = [ln for ln in generated.get("tls_key", "").splitlines() if "-----" not in ln]
    leaked += [f"tls_key line {i}" for i, ln in enumerate(key_lines) if ln and ln in out]
    assert not leaked, f"{renderer} printed {leaked}"
    assert "**********" in out
