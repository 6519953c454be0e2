"""The engine-free parts of blue-green deploys: input checks, state file, nginx snippet."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from common.settings import FALLBACK_VERSION
from xorb_tools.core import names
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import ROOT
from xorb_tools.deploy import bluegreen
from xorb_tools.deploy import stack as stack_mod


@pytest.fixture(autouse=True)
def state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("XORB_STATE_DIR", str(tmp_path))
    monkeypatch.delenv(names.PROJECT_PREFIX_VAR, raising=False)
    return tmp_path


@pytest.mark.parametrize("tag", ["1", "v1.2.3", "bg-1", "2024_01.rc-1", "A" * 128, "_x"])
def test_docker_tags_are_accepted(tag: str) -> None:
    assert bluegreen.check_version(tag) == tag


@pytest.mark.parametrize("tag", ["", "-x", ".x", "a b", "a:b", "a/b", "é", "A" * 129])
def test_malformed_versions_are_one_sentence(tag: str) -> None:
    with pytest.raises(bluegreen.NothingChanged) as err:
        bluegreen.check_version(tag)
    assert str(err.value).count(".") >= 1 and "\n" not in str(err.value)


def test_strategies_and_engines() -> None:
    assert bluegreen.check_strategy("blue-green") == "blue-green"
    assert bluegreen.check_engine("swarm") == "swarm"
    with pytest.raises(XorbError, match="Unknown strategy 'canary'"):
        bluegreen.check_strategy("canary")
    with pytest.raises(XorbError, match="Unknown engine 'k8s'"):
        bluegreen.check_engine("k8s")


def test_colours_alternate() -> None:
    assert bluegreen.other(None) == "blue"
    assert bluegreen.other("blue") == "green"
    assert bluegreen.other("green") == "blue"


def test_upstream_snippet_round_trips() -> None:
    text = bluegreen.render_upstream("green")
    assert "set $api_upstream http://api-green:8000;" in text
    assert bluegreen.parse_upstream(text) == "green"
    assert bluegreen.parse_upstream("") is None
    with pytest.raises(XorbError):
        bluegreen.render_upstream("red")


def test_nginx_includes_the_switch_folder_inside_location() -> None:
    conf = (ROOT / "compose" / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    default = conf.index("set $api_upstream http://api:8000;")
    include = conf.index("include /etc/nginx/switch/*.conf;")
    assert default < include < conf.index("proxy_pass $api_upstream;")
    assert "/health" in conf[conf.index("map $uri $api_limit_key") :]


def test_state_survives_a_new_reader(state_dir: Path) -> None:
    assert bluegreen.load_state("production") == bluegreen.State()
    state = bluegreen.State().switched("blue", "1").switched("green", "2")
    assert (state.live, state.previous, state.versions) == (
        "green",
        "blue",
        {"blue": "1", "green": "2"},
    )
    bluegreen.save_state("production", state)
    again = bluegreen.load_state("production")
    assert again == state
    assert bluegreen.live_colour("production") == "green"
    assert bluegreen.state_path("production").parent == state_dir / "bluegreen"
    assert not list(state_dir.rglob("*.tmp"))


def test_forgetting_the_replaced_colour_leaves_no_rollback() -> None:
    state = bluegreen.State().switched("blue", "1").switched("green", "2")
    after = state.forget("blue")
    assert (after.live, after.previous, after.versions) == ("green", None, {"green": "2"})
    redeploy = state.switched("green", "3")  # the live colour again: previous stays
    assert (redeploy.live, redeploy.previous) == ("green", "blue")


def test_a_damaged_state_file_is_one_sentence() -> None:
    path = bluegreen.state_path("production")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(XorbError, match="remove it"):
        bluegreen.load_state("production")
    path.write_text('{"live": "red"}')
    with pytest.raises(XorbError, match="colour 'red'"):
        bluegreen.load_state("production")


def test_projects_follow_the_prefix(monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    assert names.project_name("production") == "xorb-production"
    monkeypatch.setenv(names.PROJECT_PREFIX_VAR, "xorb-bgt")
    base = stack_mod.Stack(
        "production", stack_mod.compose_file("production"), {"XORB_SECRETS": "/s"}
    )
    colour = bluegreen.colour_stack(base, "green", "bg-2")
    assert base.project == "xorb-bgt-production"
    assert colour.project == "xorb-bgt-production-green"
    assert colour.variables["XORB_BASE_PROJECT"] == "xorb-bgt-production"
    assert colour.variables["XORB_VERSION"] == "bg-2"
    assert not stack_mod.switch_dir("production").exists()  # opening a stack makes nothing
    switch = stack_mod.switch_dir("production", create=True)
    assert switch == state_dir / "xorb-bgt-production" / "nginx"
    assert switch.stat().st_mode & 0o777 == 0o755


def test_only_one_change_at_a_time() -> None:
    with (
        bluegreen.locked("production"),
        pytest.raises(bluegreen.NothingChanged),
        bluegreen.locked("production"),
    ):
        pass
    with bluegreen.locked("production"):
        pass  # released


def test_the_api_falls_back_to_the_project_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["version"] == FALLBACK_VERSION
