"""``scripts/reset-buildkit-keys.sh`` against the real engine, and the doctor's line for it.

The reset prunes the builder cache and restarts dockerd, which breaks anything else using
the engine: these tests are marked ``engine_reset`` and run only in their own session
(``nox -s engine_reset``), which the default run includes when ``CI`` is set.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.docker.conftest import run_inv
from xorb_tools.core import engine
from xorb_tools.core.images import MB
from xorb_tools.core.services import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.engine_reset]

SCRIPT = ROOT / "scripts" / "reset-buildkit-keys.sh"


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def store() -> Path:
    path = engine.buildkit_key_store()
    if path is None:
        pytest.skip("the key store is not visible here (needs root on the engine's host)")
    running = [c.name for c in engine.client().container.list()]
    if running:
        message = f"containers are running ({', '.join(running)}); the reset would stop them"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: an earlier test left them running")  # CI must run this
        pytest.skip(message)  # a developer's engine: never stop what they run
    return path


def test_refuses_while_a_container_runs_and_changes_nothing(store: Path, base: str) -> None:
    before = store.stat()
    old = store.with_name("cache.db.old")
    old_before = old.stat().st_mtime_ns if old.exists() else None
    container = engine.client().run(base, ["sleep", "120"], detach=True, remove=True)
    try:
        result = _script()
        assert result.returncode == 1, result.stderr
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "1 container(s) running" in lines[0], result.stderr
        assert engine.client().container.inspect(container.id).state.running
        assert store.stat().st_ino == before.st_ino
        assert (old.stat().st_mtime_ns if old.exists() else None) == old_before
    finally:
        engine.client().container.remove(container.id, force=True)

    bad = _script("--everything")
    assert bad.returncode == 1 and "unknown option '--everything'" in bad.stderr


def test_reset_gives_an_empty_store_and_a_working_builder(store: Path, tmp_path: Path) -> None:
    before = store.stat()
    result = _script()
    assert result.returncode == 0, result.stderr
    assert "moved the key store" in result.stderr
    # Moved, not copied or lost: the same file (dockerd may still write to it as it stops,
    # and bolt grows in doubling steps, so its size can only have grown).
    moved = store.with_name("cache.db.old").stat()
    assert moved.st_ino == before.st_ino and moved.st_size >= before.st_size
    engine.require_daemon()
    # The builder works with the new store, cache export (which walks it) included.
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY hello /hello\n")
    (tmp_path / "hello").write_text("hello\n")
    engine.client().buildx.build(
        tmp_path,
        cache_to=f"type=local,dest={tmp_path / 'cache'},mode=max",
        output={"type": "cacheonly"},
    )
    assert (tmp_path / "cache" / "index.json").is_file()
    assert store.stat().st_size <= 1 * MB
    doctor = run_inv("doctor")
    line = next(ln for ln in doctor.lines if "buildkit keys" in ln)
    assert " ok " in line, doctor.out
