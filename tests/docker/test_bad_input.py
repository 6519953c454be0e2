"""Bad input that needs a build or the doctor: a failed build keeps images and cache, and
``inv doctor`` names what is missing. The table of bad input across every task (one
sentence, non-zero exit, nothing started, removed or overwritten) is
``tests/resilience/test_bad_input.py`` (``nox -s resilience``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.docker.conftest import copy_repo, image_id, run_inv
from xorb_tools.build import cache
from xorb_tools.core.services import Project

pytestmark = pytest.mark.docker


def test_doctor_without_daemon_names_the_one_missing_line() -> None:
    result = run_inv("doctor", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.code == 1 and "Traceback" not in result.out
    missing = [ln for ln in result.lines if "MISSING" in ln]
    assert len(missing) == 1 and "Docker engine" in missing[0], result.out
    assert "scripts/provision.sh" in result.out


def test_doctor_is_all_ok_on_a_provisioned_host() -> None:
    result = run_inv("doctor")
    assert result.code == 0, result.out
    assert "MISSING" not in result.out


def test_failed_build_keeps_images_and_cache(
    project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    repo = copy_repo(tmp_path / "repo")
    cache_dir = tmp_path / "cache"
    env = {"XORB_CACHE_DIR": str(cache_dir)}
    ok = run_inv("build", "--service", "api", "--version", "7.7.7", "--quiet", cwd=repo, env=env)
    assert ok.code == 0, ok.out
    api = project.service("api")
    before_image = image_id(api.ref("7.7.7"))
    local = cache_dir / "production" / "api"
    before_index = json.loads((local / "index.json").read_text())
    before_size = cache.dir_size(local)
    # a syntax error in the API package: the build-time smoke test must stop the build
    (repo / "src" / "api" / "__init__.py").write_text("this is not python(\n")
    broken = run_inv("build", "--service", "api", "--version", "7.7.7", cwd=repo, env=env)
    assert broken.code != 0 and "Traceback (most recent call last)" not in broken.lines[-1]
    assert image_id(api.ref("7.7.7")) == before_image
    assert json.loads((local / "index.json").read_text()) == before_index
    assert cache.dir_size(local) == before_size
    assert not list(local.parent.glob("api.new-*"))


def test_gha_cache_without_its_runtime_is_one_sentence_and_auto_falls_back() -> None:
    bare = {"GITHUB_ACTIONS": "true", "ACTIONS_RUNTIME_TOKEN": "", "ACTIONS_CACHE_URL": ""}
    refused = run_inv("build", "--service", "api", "--cache", "gha", env=bare)
    assert refused.code != 0 and "Traceback" not in refused.out
    assert refused.lines[-1].startswith("error: The GitHub Actions cache runtime is not exported")
    assert "crazy-max/ghaction-github-runtime" in refused.lines[-1]
    auto = run_inv("build", "--service", "api", "--quiet", env=bare)
    assert auto.code == 0, auto.out
    notes = [ln for ln in auto.lines if ln.startswith("cache: local, not gha")]
    assert len(notes) == 1 and "no cache runtime" in notes[0], auto.out
    assert "Builder: default (docker driver: the containerd image store" in auto.out
