"""The service table is the one source every loop reads."""

from __future__ import annotations

import pytest

from xorb_tools import services
from xorb_tools.errors import XorbError


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


def test_missing_column_is_reported() -> None:
    data = {
        "tool": {
            "xorb": {
                "base-image": "b",
                "local-base-image": "l",
                "environments": [],
                "targets": [],
                "services": [{"name": "x"}],
            }
        }
    }
    with pytest.raises(XorbError, match="lacks 'package'"):
        services.parse(data)
