"""One source for service facts: every port the compose files, nginx, Prometheus, the
environment TOMLs and the settings defaults name for a service is the port of that service
in the table (``[tool.xorb]``), and so are the build arguments the development file passes.
The table is what the images are built with (``PORT``, ``HEALTH_PATH``), so a file that
disagrees with it is the one that is wrong."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.settings import ApiServiceSettings, OrchestratorSettings, WorkerSettings
from xorb_tools.core import services
from xorb_tools.core.services import ROOT
from xorb_tools.deploy import bluegreen, stack
from xorb_tools.rootfs import infra

PROJECT = services.load()
PORTS = {s.name: s.port for s in PROJECT.services}
TEXT_FILES = [
    *sorted((ROOT / "compose").rglob("*.yml")),
    ROOT / "compose" / "nginx" / "nginx.conf",
    *sorted((ROOT / "src" / "common" / "config").glob("*.toml")),
]


class _AnyTag(yaml.SafeLoader):
    """compose's own tags (``!override``, ``!reset``) read as their plain values."""


_AnyTag.add_multi_constructor(
    "!",
    lambda loader, _tag, node: (
        loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_scalar(node)
    ),
)


def _yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_AnyTag)


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_host_and_port_of_a_service_is_the_tables(path: Path) -> None:
    names = "|".join(PORTS)
    found = re.findall(rf"\b({names})(?:-[a-z]+)?:(\d{{2,5}})\b", path.read_text())
    wrong = [f"{name}:{port}" for name, port in found if int(port) != PORTS[name]]
    assert not wrong, f"{path.name} names {wrong}; the table says {PORTS}"


def test_prometheus_scrapes_each_service_on_its_port() -> None:
    config = _yaml(ROOT / "compose" / "prometheus" / "prometheus.yml")
    seen = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for name in sd["names"]:
                if name in PORTS:
                    seen[name] = sd["port"]
    assert seen == PORTS


def test_the_development_file_builds_and_publishes_each_service_on_its_port() -> None:
    config = _yaml(ROOT / "compose" / "docker-compose.development.yml")
    for name, port in PORTS.items():
        svc = config["services"][name]
        assert int(svc["build"]["args"]["PORT"]) == port, name
        published = [int(str(p).rsplit(":", 1)[1]) for p in svc.get("ports", [])]
        assert published in ([], [port]), name  # the worker publishes nothing


def test_the_settings_defaults_are_the_tables() -> None:
    assert ApiServiceSettings().port == PORTS["api"]
    assert WorkerSettings().health_port == PORTS["worker"]
    orchestrator = OrchestratorSettings()
    assert orchestrator.health_port == PORTS["orchestrator"]
    assert orchestrator.url.endswith(f":{PORTS['orchestrator']}")
    assert f":{PORTS['api']}/" in orchestrator.dependency_url


def test_blue_green_reads_the_api_port_from_the_table() -> None:
    assert PORTS["api"] == bluegreen.API_PORT
    assert f"api-blue:{PORTS['api']}" in bluegreen.render_upstream("blue")


def test_compose_defaults_of_infrastructure_images_are_the_catalogs() -> None:
    # compose/docker-compose.yml falls back to the official image when the tasks set no
    # variable (`docker compose -f ... up` by hand): the catalog's official one
    text = (ROOT / "compose" / "docker-compose.yml").read_text()
    defaults = dict(re.findall(r"\$\{(XORB_[A-Z]+_IMAGE):-([^}]+)\}", text))
    for name in infra.names():
        spec = infra.get(name)
        assert defaults.get(spec.env_var) == spec.official, (name, defaults)
    assert defaults["XORB_GRAFANA_IMAGE"] == stack.GRAFANA_DEFAULT


def test_the_base_image_default_is_the_tables() -> None:
    for path in (ROOT / "compose").glob("docker-compose*.yml"):
        for default in re.findall(r"\$\{XORB_BASE_IMAGE:-([^}]+)\}", path.read_text()):
            assert default == PROJECT.base_image, path.name
