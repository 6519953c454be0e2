"""A fresh runner: the builder cache is pruned and the exported cache brings the
dependency layers back. Named to run last in the docker session, because pruning the
builder makes every later build in the run start cold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docker.conftest import deps_steps_cached, run_inv
from xorb_tools import engine, registry
from xorb_tools.services import Project

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_pruned_builder_reuses_the_local_cache(
    project: Project, repo: Path, cache_env: dict[str, str]
) -> None:
    assert run_inv("build", "--cache", "local", "--quiet", cwd=repo, env=cache_env).code == 0
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
