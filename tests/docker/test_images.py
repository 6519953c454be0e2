"""The production images `inv build --target production` makes: hardened, labelled,
healthy and within budget. Every check inspects or runs the real image."""

from __future__ import annotations

import inspect
import json
import secrets
import time
import uuid
from pathlib import Path

import pytest
from python_on_whales import Container

from tests.docker.conftest import uncompressed_mb
from tests.elf import section_names
from xorb_tools.core import engine, images
from xorb_tools.core.services import Project
from xorb_tools.testing import testinfra

pytestmark = pytest.mark.docker

OCI_KEYS = ("title", "version", "revision", "created", "source")


@pytest.mark.parametrize("name", ["api", "orchestrator", "worker"])
def test_image_is_non_root_labelled_and_has_a_healthcheck(
    project: Project, production: dict[str, str], name: str
) -> None:
    svc = project.service(name)
    image = engine.client().image.inspect(svc.ref("production"))
    assert image.config.user == "1000:1000"
    labels = image.config.labels or {}
    for key in OCI_KEYS:
        assert labels.get(f"org.opencontainers.image.{key}"), f"missing OCI label {key}"
    assert labels["org.opencontainers.image.title"] == f"xorb-{name}"
    health = image.config.healthcheck
    assert health is not None and health.test == ["CMD", "python3", "-m", "common.healthcheck"]
    env = dict(e.split("=", 1) for e in image.config.env or [])
    assert env["XORB_SERVICE"] == svc.package and env["XORB_ENV"] == "production"
    assert env["XORB_HEALTH_PORT"] == str(svc.port)
    out = engine.client().container.run(
        svc.ref("production"), ["id", "-u"], remove=True, read_only=True
    )
    assert str(out).strip() == "1000"


@pytest.mark.parametrize("name", ["api", "orchestrator", "worker"])
def test_image_is_within_its_budget(
    project: Project, production: dict[str, str], name: str
) -> None:
    svc = project.service(name)
    size = uncompressed_mb(svc.ref("production"))
    assert size <= svc.budget_mb, f"{name}: {size:.1f} MB > budget {svc.budget_mb} MB"


def test_all_three_share_the_base_and_dependency_layers(
    project: Project, production: dict[str, str]
) -> None:
    # The images this session's `inv build --target production` made (pinned by the
    # fixture): other tests build one service alone under the same `:production` tag, and
    # after a lost builder cache such a rebuild shares only the OS and dependency layers
    # with the others (test_fresh_runner), not the WORKDIR compared below.
    layer_sets = [images.diff_ids(production[s.name]) for s in project.services]
    shared = set(layer_sets[0]) & set(layer_sets[1]) & set(layer_sets[2])
    # the trimmed root filesystem (one layer: FROM scratch + COPY), WORKDIR where the
    # engine records it as a layer, and the common dependency layer
    assert len(shared) >= 2, f"only {len(shared)} shared layers:\n" + "\n".join(
        f"{production[s.name]}: {[d[7:19] for d in layers]}"
        for s, layers in zip(project.services, layer_sets, strict=True)
    )
    assert layer_sets[0][:2] == layer_sets[1][:2] == layer_sets[2][:2]


def test_image_runs_without_an_installer(project: Project, production: dict[str, str]) -> None:
    out = engine.client().container.run(
        project.service("api").ref("production"),
        ["python3", "-c", "import importlib.util as u; print(u.find_spec('pip'))"],
        remove=True,
    )
    assert str(out).strip() == "None"


def _secrets_dir(tmp_path: Path, infra: testinfra.TestInfra) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    (folder / "postgres_password").write_text(infra.postgres_password)
    (folder / "jwt_secret").write_text(secrets.token_urlsafe(48))
    (folder / "redis_password").write_text(infra.postgres_password)  # the test Redis's too
    for f in folder.iterdir():
        f.chmod(0o644)  # read by UID 1000 in the container
    return folder


def _wait_healthy(container: Container, timeout: float = 120.0) -> str:
    client = engine.client()
    deadline = time.monotonic() + timeout
    status: str | None = "starting"
    while time.monotonic() < deadline:
        state = client.container.inspect(container).state
        status = state.health.status if state.health else "none"
        if status == "healthy" or not state.running:
            break
        time.sleep(1)
    return str(status)


@pytest.mark.parametrize("name", ["api", "orchestrator", "worker"])
def test_production_container_becomes_healthy_read_only_without_capabilities(
    project: Project,
    production: dict[str, str],
    infra: testinfra.TestInfra,
    tmp_path: Path,
    name: str,
) -> None:
    svc = project.service(name)
    client = engine.client()
    container = client.container.run(
        svc.ref("production"),
        detach=True,
        name=f"xorb-health-{name}-{uuid.uuid4().hex[:6]}",
        networks=[infra.network],
        envs=infra.env(internal=True),
        volumes=[(str(_secrets_dir(tmp_path, infra)), "/run/secrets", "ro")],
        read_only=True,
        tmpfs=["/tmp"],
        cap_drop=["ALL"],
        security_options=["no-new-privileges:true"],
    )
    try:
        status = _wait_healthy(container)
        logs = str(client.container.logs(container))
        assert status == "healthy", f"{name} is {status}:\n{logs[-3000:]}"
        assert infra.postgres_password not in logs
    finally:
        client.container.remove(container, force=True)


# Runs inside the image: every ELF shared object under /opt/venv, whether it still has a
# static symbol table or debug sections, and whether the loader accepts it (dlopen).
_SHARED_OBJECTS = (
    inspect.getsource(section_names)
    + r"""
import ctypes, json, os
seen, unstripped, broken = 0, [], []
for top, _, files in os.walk("/opt/venv"):
    for name in files:
        path = os.path.join(top, name)
        if ".so" not in name or os.path.islink(path):
            continue
        data = open(path, "rb").read()
        if data[:4] != b"\x7fELF":
            continue
        seen += 1
        sections = section_names(data)
        if any(s.startswith(b".debug") or s in (b".symtab", b".strtab") for s in sections):
            unstripped.append(path)
        try:
            ctypes.CDLL(path)
        except OSError as exc:
            broken.append(f"{path}: {exc}")
print(json.dumps({"seen": seen, "unstripped": unstripped, "broken": broken}))
"""
)


@pytest.mark.parametrize("name", ["api", "orchestrator", "worker"])
def test_shared_objects_are_stripped_and_still_load(
    project: Project, production: dict[str, str], name: str
) -> None:
    # venv-tool strips them itself (no binutils in the build): no static symbol table or
    # debug section may be left, and the loader must still accept every one of them.
    out = engine.client().container.run(
        production[name], ["python3", "-c", _SHARED_OBJECTS], remove=True, read_only=True
    )
    found = json.loads(str(out).strip().splitlines()[-1])
    assert found["seen"] >= 5, found
    assert found["unstripped"] == [], found["unstripped"]
    assert found["broken"] == [], found["broken"]
