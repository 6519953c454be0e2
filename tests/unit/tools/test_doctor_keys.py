"""The doctor's BuildKit key-store line: ok, warning with the reset script, or skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from xorb_tools.core import engine
from xorb_tools.core.images import MB
from xorb_tools.quality import doctor


def _store(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "buildkit" / "cache.db"
    path.parent.mkdir()
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def test_a_small_store_is_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _store(tmp_path, 2 * MB)
    monkeypatch.setattr(engine, "buildkit_key_store", lambda: path)
    check = doctor.check_key_store()
    assert (check.status, check.detail) == ("ok", f"2.0 MB ({path})")
    assert not check.blocking


def test_a_large_store_warns_and_names_the_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _store(tmp_path, doctor.KEY_STORE_WARN_BYTES + 1)
    monkeypatch.setattr(engine, "buildkit_key_store", lambda: path)
    check = doctor.check_key_store()
    assert check.status == "warning" and check.detail.startswith("16.0 MB")
    assert "scripts/reset-buildkit-keys.sh" in check.remedy
    assert not check.blocking


def test_an_invisible_store_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "buildkit_key_store", lambda: None)
    assert doctor.check_key_store().status == "skipped"
