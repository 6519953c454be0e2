"""A checkout's namespace (``XORB_PROJECT``) renames everything it makes on a shared engine:
service, base and infrastructure images, compose projects and test stacks, so two checkouts
or two CI jobs never touch each other's images or stacks."""

from __future__ import annotations

import pytest

from xorb_tools.core import names, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import bluegreen, stack
from xorb_tools.rootfs import infra

OTHER = "ci-two"


@pytest.fixture
def other(monkeypatch: pytest.MonkeyPatch) -> services.Project:
    monkeypatch.setenv(services.PROJECT_VAR, OTHER)
    services.load.cache_clear()
    return services.load()


def test_default_namespace_is_the_tables_prefix() -> None:
    project = services.load()
    assert project.namespace == "xorb"
    assert project.service("api").image == "xorb/api"
    assert names.project_name("production") == "xorb-production"


def test_every_name_moves_into_the_namespace(other: services.Project) -> None:
    assert other.namespace == OTHER
    assert {s.image for s in other.services} == {f"{OTHER}/{s.name}" for s in other.services}
    assert other.local_base_image == f"{OTHER}/base:bookworm"
    assert other.base_image == "python:3.11-slim-bookworm"  # an upstream name is not ours
    assert {i.ref.split("/")[0] for i in infra.IMAGES} == {OTHER}
    assert names.project_name("production") == f"{OTHER}-production"
    assert names.suite_prefix("bgt") == f"{OTHER}-bgt"
    assert bluegreen.image_ref("1.0") == f"{OTHER}/api:1.0"


def test_a_suite_prefix_keeps_the_images(
    other: services.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.PROJECT_PREFIX_VAR, names.suite_prefix("bgt"))
    assert names.project_name("production") == f"{OTHER}-bgt-production"
    assert other.service("api").ref("production") == f"{OTHER}/api:production"


@pytest.mark.parametrize("environment", ["development", "production"])
def test_compose_renders_the_namespace(other: services.Project, environment: str) -> None:
    """The real ``docker compose config``: images and the project name follow the variable
    the stack hands compose."""
    config = stack.render(stack.open_stack(environment, resolve_images=False))
    assert config["name"] == f"{OTHER}-{environment}"
    ours = {s.image for s in other.services}
    images = {str(svc["image"]).rpartition(":")[0] for svc in config["services"].values()}
    assert images & ours == ours
    assert not {i for i in images if i.startswith("xorb/")}


@pytest.mark.parametrize("bad", ["Upper", "a b", "-lead", "x/../y", "team/x", "a.b"])
def test_a_bad_namespace_is_one_sentence(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(services.PROJECT_VAR, bad)
    services.load.cache_clear()
    with pytest.raises(XorbError, match=r"^XORB_PROJECT=.* is not a lowercase image namespace"):
        services.load()
