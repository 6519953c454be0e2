"""deploy/strategy without an engine: every input is checked before anything runs, in one
sentence, and a record is one line of the deploy log with what the deploy did."""

from __future__ import annotations

from pathlib import Path

import pytest

from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import deploylog, strategy


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("qa", "recreate", "compose", None), "qa"),
        (("production", "canary", "compose", None), "Unknown strategy 'canary'"),
        (("production", "recreate", "kubernetes", None), "Unknown engine 'kubernetes'"),
        (("production", "blue-green", "compose", None), "version"),
        (("production", "recreate", "compose", "no such"), "Invalid version 'no such'"),
    ],
)
def test_bad_input_is_one_sentence_before_anything_runs(
    args: tuple[str, str, str, str | None], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # never asked
    with pytest.raises(XorbError, match=says):
        strategy.deploy(args[0], strategy=args[1], engine_name=args[2], version=args[3])


def test_a_record_is_one_line_of_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_STATE_DIR", str(tmp_path))
    strategy.record(
        "staging", "blue-green", "compose", "1.4.0", {"xorb/api": "sha256:ab"}, "ok", "green live"
    )
    (record,) = deploylog.read("staging")
    assert (record.strategy, record.engine, record.version, record.outcome) == (
        "blue-green",
        "compose",
        "1.4.0",
        "ok",
    )
    assert record.digests == {"xorb/api": "sha256:ab"} and record.detail == "green live"
    assert len((tmp_path / deploylog.LOG_NAME).read_text().splitlines()) == 1
