"""The README's commands are the ones CI runs."""

from __future__ import annotations

import re

from xorb_tools.services import ROOT


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", text, re.S)
    assert match, "README.md must mark its test command with <!-- test-command -->"
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1].strip() == _readme_test_command()


def test_readme_gives_the_main_job() -> None:
    assert "uv run inv build --target production" in (ROOT / "README.md").read_text()
