"""The deploy history file."""

from __future__ import annotations

from pathlib import Path

import pytest

from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import deploylog


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XORB_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def _record(env: str, version: str) -> deploylog.Record:
    return deploylog.Record(
        deploylog.now(), env, "blue-green", "compose", version, {"api": "sha256:ab"}, "ok"
    )


def test_records_round_trip_oldest_first(state: Path) -> None:
    deploylog.append(_record("production", "1"))
    deploylog.append(_record("staging", "2"))
    deploylog.append(_record("production", "3"))
    assert [r.version for r in deploylog.read()] == ["1", "2", "3"]
    assert [r.version for r in deploylog.read("production")] == ["1", "3"]
    assert deploylog.read("production")[0].digests == {"api": "sha256:ab"}
    assert (state / deploylog.LOG_NAME).read_text().count("\n") == 3


def test_no_log_is_no_history() -> None:
    assert deploylog.read() == []


def test_a_damaged_line_is_one_sentence(state: Path) -> None:
    deploylog.append(_record("production", "1"))
    with (state / deploylog.LOG_NAME).open("a") as log:
        log.write("{not json\n")
    with pytest.raises(XorbError, match="damaged at line 2"):
        deploylog.read()
