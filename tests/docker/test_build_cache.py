"""`inv build` caching against the real engine: no-op rebuilds, per-service rebuilds,
cache that survives a pruned builder, and a local cache that does not grow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docker.conftest import deps_steps_cached, image_id, run_inv
from xorb_tools.build import cache
from xorb_tools.core.services import Project

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _ids(project: Project, tag: str) -> dict[str, str]:
    return {s.name: image_id(s.ref(tag)) for s in project.services}


def _exports(cache_env: dict[str, str], environment: str = "production") -> dict[str, str]:
    """Per service: the inputs fingerprint and index of its local cache directory."""
    root = Path(cache_env["XORB_CACHE_DIR"]) / environment
    return {
        d.name: (d / cache.FINGERPRINT_FILE).read_text() + (d / "index.json").read_text()
        for d in sorted(root.iterdir())
        if (d / "index.json").exists()
    }


def test_noop_rebuild_changes_no_digest_and_every_step_is_cached(
    project: Project, repo: Path, cache_env: dict[str, str]
) -> None:
    first = run_inv("build", "--version", "9.9.9", "--quiet", cwd=repo, env=cache_env)
    assert first.code == 0, first.out
    before = _ids(project, "9.9.9")
    exported = _exports(cache_env)
    again = run_inv("build", "--version", "9.9.9", cwd=repo, env=cache_env)
    assert again.code == 0, again.out
    assert _ids(project, "9.9.9") == before
    # the local caches already held these inputs: nothing was exported again
    assert "already holds these inputs" in again.out, again.out[-2000:]
    assert _exports(cache_env) == exported
    # every RUN/COPY step of the second build came from the cache
    steps = re.findall(r"^#(\d+) \[[^\]]*\] (?:RUN|COPY)", again.out, re.M)
    assert steps, again.out[-2000:]
    uncached = [s for s in set(steps) if not re.search(rf"^#{s} CACHED$", again.out, re.M)]
    assert not uncached, f"steps rebuilt on a no-op build: {uncached}"


def test_changing_the_api_rebuilds_only_the_api_image(
    project: Project, repo: Path, cache_env: dict[str, str]
) -> None:
    assert run_inv("build", "--version", "9.9.9", "--quiet", cwd=repo, env=cache_env).code == 0
    before = _ids(project, "9.9.9")
    exported = _exports(cache_env)
    target = repo / "src" / "api" / "__init__.py"
    target.write_text(target.read_text() + "\n# touched by test_build_cache\n")
    result = run_inv("build", "--version", "9.9.9", cwd=repo, env=cache_env)
    assert result.code == 0, result.out
    after = _ids(project, "9.9.9")
    assert after["api"] != before["api"]
    # new inputs: the API's cache was exported again (into a directory primed with its blobs)
    assert _exports(cache_env)["api"] != exported["api"]
    assert after["orchestrator"] == before["orchestrator"]
    assert after["worker"] == before["worker"]
    cached, total = deps_steps_cached(result.out)
    assert total and cached == total, "a source change must not reinstall dependencies"


def test_local_cache_stays_the_same_size_over_ten_builds(
    repo: Path, cache_env: dict[str, str]
) -> None:
    local = Path(cache_env["XORB_CACHE_DIR"]) / "staging" / "api"
    target = repo / "src" / "api" / "__init__.py"
    original = target.read_text()
    sizes = []
    for i in range(10):
        target.write_text(original + f"\n# build {i}\n")
        result = run_inv(
            "build",
            "--environment",
            "staging",
            "--service",
            "api",
            "--cache",
            "local",
            "--quiet",
            cwd=repo,
            env=cache_env,
        )
        assert result.code == 0, result.out
        sizes.append(cache.dir_size(local))
    assert not list(local.parent.glob("api.new-*")), "a staging export was left behind"
    assert sizes[-1] <= 1.2 * sizes[0], f"local cache grew: {sizes}"
