"""Builds against a second, real dockerd configured like GitHub's ``ubuntu-24.04`` runner:
the classic image store, its own socket, data root and network namespace
(:mod:`xorb_tools.core.engines`), no image and no registry. The host's engine is never touched.

On the classic store the docker driver cannot export a cache. With no BuildKit image to
make a docker-container builder from (none can be pulled here), ``inv build`` must stop in
one sentence naming the way out; after the store is switched as ``scripts/provision.sh``
does it, the same build exports the gha cache to act's cache server, and a build on a
pruned builder imports it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.conftest import run_inv
from xorb_tools.core import engine, engines, services
from xorb_tools.core.services import ROOT
from xorb_tools.github import workflows

pytestmark = pytest.mark.docker
API = services.load().service("api")
BASE = services.load().local_base_image
GHA_BUILD = workflows.Job("build", workflow=ROOT / "tests/fixtures/workflows/gha-build.yml")


def _load_base(target: engines.Engine, base: str) -> None:
    """The base image, as a runner would pull it: from the host engine's store."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "base.tar"
        engine.client().image.save(base, output=archive)
        target.client().image.load(archive, quiet=True)


@pytest.fixture(scope="module")
def classic(base: str) -> Iterator[engines.Engine]:
    root = Path(tempfile.mkdtemp(prefix="xorb-gh-"))
    runner = engines.Engine("gh", 201, root).up()  # a fresh engine: no image at all
    try:
        yield runner
    finally:
        runner.down()
    assert runner.leftovers() == []


def _table_rows(out: str) -> dict[str, str]:
    """A rich table's rows, wrapped cells joined: first cell -> the rest as one line."""
    rows: dict[str, list[list[str]]] = {}
    key = ""
    for line in out.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        key = cells[0] or key
        rows.setdefault(key, []).append(cells[1:])
    return {k: " ".join(" ".join(col) for col in zip(*v, strict=True)) for k, v in rows.items()}


def test_doctor_says_which_builder_a_build_uses_and_why(classic: engines.Engine) -> None:
    doctor = run_inv("doctor", env={"DOCKER_HOST": classic.docker_host})
    line = _table_rows(doctor.out)["builder"]
    assert "docker driver on the classic image store" in line, doctor.out
    assert "cannot export a build cache" in line and "builds with a cache will stop" in line
    assert "provision.sh" in line


def test_a_build_with_a_cache_stops_in_one_sentence_and_leaves_nothing(
    classic: engines.Engine, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    env = {"DOCKER_HOST": classic.docker_host, "XORB_CACHE_DIR": str(cache_dir)}
    result = run_inv("build", "--service", "api", "--cache", "local", env=env)
    assert result.code != 0
    errors = [ln for ln in result.lines if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.out, result.out
    assert "classic image store, which cannot export a build cache" in errors[0]
    assert "bash scripts/provision.sh" in errors[0] and "--cache none" in errors[0]
    assert not cache_dir.exists()
    tags = [t for i in classic.client().image.list() for t in i.repo_tags]
    assert not [t for t in tags if API.image in t]
    # Without a cache nothing needs exporting: the same engine builds, and on this fresh
    # engine with no registry it first makes the air-gapped base itself, saying so.
    plain = run_inv("build", "--service", "api", "--cache", "none", "--quiet", env=env)
    assert plain.code == 0, plain.out
    assert "(docker driver: classic image store; --cache none exports nothing)" in plain.out
    assert f"building {BASE} from Debian packages first" in plain.out
    assert f"rootfs: {BASE}: importing the" in plain.out
    assert not [ln for ln in plain.lines if ln.startswith("ERROR")], plain.out
    assert classic.client().image.exists(API.ref("production"))


def test_after_provisioning_the_gha_cache_round_trips_through_acts_server(
    classic: engines.Engine, base: str, tmp_path: Path
) -> None:
    seconds = classic.restart(containerd_store=True)  # what provision.sh does to a runner
    assert seconds < 60
    _load_base(classic, base)  # the containerd store does not see the classic one's images
    server, reports = tmp_path / "cache-server", tmp_path / "reports"
    env = {"DOCKER_HOST": classic.docker_host}
    runs = []
    for attempt in (1, 2):
        classic.client().buildx.prune(all=True)
        r = workflows.run(
            GHA_BUILD,
            work=tmp_path,
            cache_server=server,
            reports=reports,
            attempt=attempt,
            env=env,
            # BuildKit runs inside the engine's namespace: it reaches the host at its veth end
            cache_server_addr=classic.host_address,
        )
        assert r.ok, workflows.failure(r)
        runs.append(r)
    log = runs[0].log.read_text()
    assert "Builder: default (docker driver: the containerd image store exports" in log
    assert "cache: GitHub Actions, protocol v1" in log
    assert workflows.dir_mb(server) > 1  # the first run exported the cache
    cold, warm = runs[0].cached_steps(), runs[1].cached_steps()
    assert warm[0] > cold[0], (cold, warm)  # the second, on a pruned builder, imported it
    shutil.rmtree(server, ignore_errors=True)
