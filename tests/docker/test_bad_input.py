"""Bad input to `inv build` and friends: one sentence, non-zero exit, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.docker.conftest import Inv, copy_repo, image_id, run_inv
from xorb_tools import cache
from xorb_tools.services import Project

pytestmark = pytest.mark.docker


def _one_sentence(result: Inv, *needles: str) -> None:
    assert result.code != 0
    assert "Traceback" not in result.out
    errors = [ln for ln in result.lines if ln.startswith("error:")]
    assert len(errors) == 1, result.out
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("build", "--service", "nope"), "Unknown service 'nope'"),
        (("build", "--target", "debug"), "Unknown target 'debug'"),
        (("build", "--environment", "prod"), "Unknown environment 'prod'"),
        (("build", "--version", "1..2"), "Invalid version"),
        (("build", "--cache", "disk"), "Unknown cache mode 'disk'"),
        (("build", "--ca-cert", "/nonexistent/ca.pem"), "is not a readable file"),
        (("build", "--push", "--registry", "127.0.0.1:9"), "Registry 127.0.0.1:9 is unreachable"),
        (("build", "--base-image", "nosuch/base:none"), "cannot be pulled"),
        (("push", "--registry", "127.0.0.1:9", "--version", "0.0.0-absent"), "does not exist"),
    ],
)
def test_bad_input_is_one_sentence(args: tuple[str, ...], needle: str) -> None:
    _one_sentence(run_inv(*args), needle)


def test_no_daemon_is_one_sentence() -> None:
    result = run_inv("build", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    _one_sentence(result, "No Docker daemon answers", "start-docker.sh")


def test_doctor_without_daemon_names_the_one_missing_line() -> None:
    result = run_inv("doctor", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.code == 1 and "Traceback" not in result.out
    missing = [ln for ln in result.lines if "MISSING" in ln]
    assert len(missing) == 1 and "Docker engine" in missing[0], result.out
    assert "start-docker.sh" in result.out


def test_doctor_is_all_ok_on_a_provisioned_host() -> None:
    result = run_inv("doctor")
    assert result.code == 0, result.out
    assert "MISSING" not in result.out


def test_corrupt_cache_dir_is_one_sentence_and_left_alone(tmp_path: Path) -> None:
    local = tmp_path / "production" / "api"
    local.mkdir(parents=True)
    (local / "index.json").write_text("{truncated")
    result = run_inv("build", "--service", "api", env={"XORB_CACHE_DIR": str(tmp_path)})
    _one_sentence(result, "is corrupt", "inv clean")
    assert (local / "index.json").read_text() == "{truncated"


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
