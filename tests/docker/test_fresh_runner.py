"""A fresh runner: the builder cache is pruned and the exported cache brings the
dependency layers back, and a build with no cache at all makes the same large layers.
Last in the docker session (``order(-1)``): pruning the builder makes every later build in
the run start cold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docker.conftest import deps_steps_cached, run_inv
from xorb_tools.core import engine, images, registry
from xorb_tools.core.services import Project

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.order(-1)]


def test_pruned_builder_reuses_the_local_cache(
    project: Project, repo: Path, tmp_path: Path
) -> None:
    # Cold: no builder cache and an empty cache folder, so all three targets export every
    # shared layer at once. Exit 0 alone is not enough: such a build once printed
    # "ERROR: (*service).Write failed ... locked" lines (buildx's content store retrying).
    cache_env = {"XORB_CACHE_DIR": str(tmp_path / "cache")}
    engine.client().buildx.prune(all=True)
    cold = run_inv("build", "--cache", "local", "--progress", "plain", cwd=repo, env=cache_env)
    assert cold.code == 0, cold.out
    ran = deps_steps_cached(cold.out)
    assert ran[0] < ran[1], f"the builder was not cold: {ran}"
    errors = [ln for ln in cold.out.splitlines() if ln.startswith("ERROR")]
    assert not errors, errors
    engine.client().buildx.prune(all=True)
    result = run_inv("build", "--cache", "local", cwd=repo, env=cache_env)
    assert result.code == 0, result.out
    cached, total = deps_steps_cached(result.out)
    assert total and cached == total, f"deps rebuilt after prune: {cached}/{total}"


def test_pruned_builder_reuses_the_registry_cache(
    project: Project, repo: Path, cache_env: dict[str, str]
) -> None:
    args = ("build", "--cache", "registry", "--registry", "localhost:5000")
    assert run_inv(*args, "--quiet", cwd=repo, env=cache_env).code == 0
    engine.client().buildx.prune(all=True)
    result = run_inv(*args, cwd=repo, env=cache_env)
    assert result.code == 0, result.out
    cached, total = deps_steps_cached(result.out)
    assert total and cached == total, f"deps rebuilt after prune: {cached}/{total}"
    # The cache already holds these inputs (its marker vouches for the manifest the tag
    # holds), so the fresh runner does not push it again.
    names = ", ".join(s.name for s in project.services)
    assert f"registry cache of {names} already holds these inputs" in result.out, result.out
    for svc in project.services:
        ref = registry.Ref.parse(f"localhost:5000/{svc.image}:buildcache-production")
        marker = registry.read_marker(ref)
        assert marker is not None and marker[1] == registry.manifest_digest(ref), svc.name


def test_a_build_without_any_cache_makes_the_same_os_and_dependency_layers(
    project: Project, production: dict[str, str], repo: Path
) -> None:
    """The trimmed OS, the shared venv and each service's own packages carry one fixed
    time (FILE_EPOCH in docker/Dockerfile): rebuilt from nothing, from another checkout,
    they are the same blobs, so a registry or a host keeps them once."""
    engine.client().buildx.prune(all=True)
    version = "0.0.0-repro"
    result = run_inv("build", "--cache", "none", "--version", version, "--quiet", cwd=repo)
    assert result.code == 0, result.out
    try:
        for svc in project.services:
            before = images.diff_ids(production[svc.name])
            after = images.diff_ids(svc.ref(version))
            # [0] WORKDIR, [1] the trimmed OS, [2] the shared venv, [3] the service's own
            # packages; the WORKDIR, source and bytecode layers carry the build's time.
            assert after[1:4] == before[1:4], f"{svc.name}: {before[:4]} -> {after[:4]}"
    finally:
        engine.client().image.remove([s.ref(version) for s in project.services], force=False)
