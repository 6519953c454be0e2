"""Service names as plain words after a task (the guide's `inv security-scan api ...`)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from invoke.exceptions import Exit

from xorb_tools.core.services import ROOT, load
from xorb_tools.tasks import cli, namespace

NAMES = [svc.name for svc in load().services]
CONTEXTS = cli.contexts(namespace())


def _rewrite(line: str) -> list[str]:
    return cli.rewrite(line.split(), CONTEXTS, NAMES)


@pytest.mark.parametrize("task", ["build", "push", "pull", "security-scan", "size-report"])
def test_service_words_become_service_flags(task: str) -> None:
    assert _rewrite(f"{task} api orchestrator worker") == [
        task, "--service", "api", "--service", "orchestrator", "--service", "worker"
    ]  # fmt: skip


def test_flag_values_positionals_and_the_remainder_stay_as_they_are() -> None:
    assert _rewrite("build --environment production api --target testing worker") == [
        "build", "--environment", "production", "--service", "api", "--target", "testing",
        "--service", "worker",
    ]  # fmt: skip
    assert _rewrite("security-scan --skip-vuln api,worker") == [
        "security-scan", "--skip-vuln", "--service", "api,worker"
    ]  # fmt: skip
    remainder = ["exec", "api", "--", "sh", "-c", "'echo", "api'"]
    assert _rewrite("exec api -- sh -c 'echo api'") == remainder
    assert _rewrite("scale worker=4 --environment production") == [
        "scale", "worker=4", "--environment", "production"
    ]  # fmt: skip
    assert _rewrite("build api doctor") == ["build", "--service", "api", "doctor"]


def test_an_unknown_service_word_is_one_sentence_naming_the_known_ones() -> None:
    with pytest.raises(Exit) as info:
        _rewrite("security-scan api apx")
    assert str(info.value.message) == (
        "error: security-scan has no service 'apx': choose from api, orchestrator, worker "
        "(or no name: all of them)."
    )


def test_the_real_program_takes_the_guides_words() -> None:
    # `inv --dry`-free check: --help after the words proves they parsed (no engine needed).
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT),
         "security-scan", "api", "orchestrator", "worker", "--skip-vuln", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "No idea what" not in out.stdout + out.stderr and "security-scan" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "build", "apx"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "error: build has no service 'apx': choose from api, orchestrator, worker "
        "(or no name: all of them)."
    ]


def test_every_flag_of_every_task_keeps_its_help() -> None:
    # invoke pops a task's flag help while building its parser; the word rewrite builds
    # the parsers first, so it must leave the help for invoke's own `--help` (it once did not)
    ns = namespace()
    cli.contexts(ns)
    missing = [
        f"{ctx.name} --{flag.name}"
        for ctx in ns.to_contexts()
        for flag in ctx.args.values()
        if not flag.help
    ]
    assert not missing, missing
