"""The build's progress: a compact live view on a terminal, BuildKit's lines elsewhere."""

from __future__ import annotations

import io

import pytest

from xorb_tools import progress

LINES = [
    "#1 [internal] load build definition from bake.json",
    "#1 DONE 0.0s",
    "#5 [api production 1/3] COPY src/common /app/src/common",
    "#5 CACHED",
    "#6 [worker deps-service 1/1] RUN uv pip install ...",
    "#6 DONE 4.1s",
]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_compact_on_a_terminal_and_plain_in_a_pipe() -> None:
    assert progress.resolve("auto", _Tty()) == "tty"
    assert progress.resolve("auto", io.StringIO()) == "plain"
    assert progress.resolve("quiet", _Tty()) == "quiet"
    with pytest.raises(ValueError):
        progress.resolve("fancy")


def test_plain_passes_buildkits_lines_through(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.Display(["api", "worker"], "plain") as display:
        for line in LINES:
            display.feed(line)
    assert capsys.readouterr().err.splitlines() == LINES


def test_the_compact_view_keeps_one_line_per_image(capsys: pytest.CaptureFixture[str]) -> None:
    display = progress.Display(["api", "worker"], "tty")
    for line in LINES:  # not entered: no live region, state only
        display.feed(line)
    api, worker = display.targets["api"], display.targets["worker"]
    assert (api.cached, api.ran, worker.ran) == (1, 0, 1)
    assert worker.step.startswith("[deps-service 1/1] RUN")
    assert capsys.readouterr().err == ""  # nothing raw on a terminal
