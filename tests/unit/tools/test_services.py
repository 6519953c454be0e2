"""The service table is the one source every loop reads."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from xorb_tools.core import services
from xorb_tools.core.errors import XorbError


def test_table_has_the_three_services_with_budgets() -> None:
    project = services.load()
    assert [s.name for s in project.services] == ["api", "orchestrator", "worker"]
    budgets = {s.name: s.budget_mb for s in project.services}
    assert budgets == {"api": 230, "orchestrator": 260, "worker": 200}
    assert all(s.health_path.startswith("/") for s in project.services)
    assert len({s.port for s in project.services}) == 3


def test_unknown_service_names_the_known_ones() -> None:
    with pytest.raises(XorbError, match=r"Unknown service 'nope': choose from api, orchestrator"):
        services.load().service("nope")


def test_select_keeps_table_order_and_drops_repeats() -> None:
    chosen = services.load().select(["worker", "api", "worker"])
    assert [s.name for s in chosen] == ["api", "worker"]
    assert services.load().select([]) == services.load().services


@pytest.mark.parametrize("env", ["development", "staging", "production", "test"])
def test_known_environments(env: str) -> None:
    assert services.load().check_environment(env) == env


def test_unknown_environment_and_target() -> None:
    project = services.load()
    with pytest.raises(XorbError, match="Unknown environment 'prod'"):
        project.check_environment("prod")
    with pytest.raises(XorbError, match="Unknown target 'debug'"):
        project.check_target("debug")


def test_version_comes_from_the_project_table() -> None:
    assert services.load().version == "0.1.0"


def test_ref_with_and_without_registry() -> None:
    api = services.load().service("api")
    assert api.ref("1.0.0") == "xorb/api:1.0.0"
    assert api.ref("1.0.0", "localhost:5000/") == "localhost:5000/xorb/api:1.0.0"


def _table(**changes: object) -> dict[str, object]:
    """The real pyproject, with ``[tool.xorb]`` changed: ``services.1.port=...`` style keys
    (``None`` deletes)."""
    data = tomllib.loads(services.PYPROJECT.read_text())
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node: Any = data["tool"]["xorb"]
        for part in path:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is None:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return data


BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "port not a number": ({"services.1.port": "90x1"}, "service 'orchestrator', key 'port'"),
    "port out of range": ({"services.0.port": 70000}, "service 'api', key 'port'"),
    "port zero": ({"services.2.port": 0}, "service 'worker', key 'port'"),
    "missing key": ({"services.0.package": None}, "service 'api', key 'package': it is missing"),
    "missing top-level key": ({"base-image": None}, "key 'base-image': it is missing"),
    "unknown key": ({"services.0.colour": "blue"}, "service 'api', key 'colour'"),
    "duplicate name": ({"services.1.name": "api"}, "the service name 'api' is listed twice"),
    "duplicate port": ({"services.2.port": 8000}, "the port '8000' is listed twice"),
    "unknown group": ({"services.2.group": "wrker"}, "key 'group': 'wrker' is not a"),
    "bad health path": ({"services.0.health-path": "health"}, "key 'health-path'"),
    "no services": ({"services": []}, "key 'services'"),
    "bad image name": ({"services.0.image": "Xorb/API"}, "key 'image'"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_table_is_one_sentence_naming_the_service_and_key(case: str) -> None:
    changes, needle = BROKEN[case]
    with pytest.raises(XorbError) as err:
        services.parse(_table(**changes))
    message = str(err.value)
    assert needle in message, message
    assert "\n" not in message and message.startswith("The service table")


def test_the_real_table_passes_the_schema() -> None:
    assert services.parse(_table()).services == services.load().services


def test_an_unreadable_or_invalid_pyproject_is_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "pyproject.toml"
    bad.write_text("[tool.xorb\n")
    with pytest.raises(XorbError, match="is not valid TOML"):
        services.load(bad)
    with pytest.raises(XorbError, match="Cannot read"):
        services.load(tmp_path / "absent.toml")
