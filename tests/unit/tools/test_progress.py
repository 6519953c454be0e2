"""The build's progress: a compact live view on a terminal, BuildKit's lines elsewhere."""

from __future__ import annotations

import io

import pytest

from xorb_tools.build import progress, steps

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
    # The counts are the build's own step counter's: the live line and the summary agree.
    totals = {"api": {"production": 3, "deps-service": 1}, "worker": {"deps-service": 1}}
    counter = steps.StepCounter(["api", "worker"], None, totals, {"production", "deps-service"})
    display = progress.Display(["api", "worker"], "tty", counter.counts)
    for line in LINES:  # not entered: no live region, state only
        counter.feed(line)
        display.feed(line)
    api, worker = display.targets["api"], display.targets["worker"]
    assert (counter.counts("api"), counter.counts("worker")) == ((4, 4), (0, 1))
    cells = [[str(c) for c in col.cells] for col in display._render().columns]
    assert cells[1] == ["0/4 steps run", "1/1 steps run"]
    assert api.step.startswith("[production 1/3] COPY")
    assert worker.step.startswith("[deps-service 1/1] RUN")
    assert capsys.readouterr().err == ""  # nothing raw on a terminal
    display.feed("#6 ERROR: process did not complete successfully")
    assert worker.failed and not api.failed


def test_merged_processes_read_like_one_bake() -> None:
    merge = progress.Merge(["api", "worker"])
    lines = [
        merge.line("api", "#5 [production 1/3] COPY src/common /app/src/common"),
        merge.line("worker", "#5 [deps-service 1/1] RUN uv pip install ..."),
        merge.line("api", "#5 CACHED"),
        merge.line("worker", "#5 DONE 4.1s"),
        merge.line("worker", "#6 [worker internal] load .dockerignore"),
        merge.line("api", "ERROR: something unnumbered"),
    ]
    assert lines == [
        "#1 [api production 1/3] COPY src/common /app/src/common",
        "#2 [worker deps-service 1/1] RUN uv pip install ...",
        "#1 CACHED",
        "#2 DONE 4.1s",
        "#3 [worker internal] load .dockerignore",
        "ERROR: something unnumbered",
    ]
    # the step counter reads the merged lines as it reads one bake's
    totals = {"api": {"production": 3}, "worker": {"deps-service": 1}}
    counter = steps.StepCounter(["api", "worker"], None, totals, {"production", "deps-service"})
    for line in lines:
        counter.feed(line)
    assert counter.counts("api") == (3, 3)
    assert counter.counts("worker") == (0, 1)
