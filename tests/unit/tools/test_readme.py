"""The README's commands are the ones CI runs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from xorb_tools.core.services import ROOT


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


def _guide_rows() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- guide-table -->\n(.+?)<!-- /guide-table -->", text, re.S)
    assert match, "README.md must mark the guide's table with <!-- guide-table -->"
    rows = []
    for line in match.group(1).splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        guide, ours = (re.search(r"`([^`]+)`", c) for c in cells[:2])
        assert guide and ours, line
        rows.append((guide.group(1), ours.group(1)))
    return rows


def _with_help(command: str) -> list[str]:
    words = shlex.split(command)
    if words[:3] == ["uv", "run", "inv"]:
        words = [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *words[3:]]
    elif words[0] == "python3":
        words = [sys.executable, *words[1:]]
    cut = words.index("--") if "--" in words else len(words)
    return [*words[:cut], "--help"]


def test_the_guide_table_covers_the_guides_commands() -> None:
    guide = ROOT.parent / "shared" / "seed" / "containerization-guide.md"
    rows = _guide_rows()
    assert len(rows) >= 15
    if guide.exists():  # beside the checkout on our hosts and in CI
        text = guide.read_text()
        for theirs, _ours in rows:
            assert theirs in text, f"not the guide's words: {theirs}"


@pytest.mark.parametrize("ours", [ours for _theirs, ours in _guide_rows()])
def test_each_command_of_the_guide_table_parses(ours: str) -> None:
    out = subprocess.run(
        _with_help(ours), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, f"{ours}: {out.stdout[-400:]}{out.stderr[-400:]}"
    assert "Traceback" not in out.stderr and "No idea what" not in out.stderr
    assert "usage" in (out.stdout + out.stderr).lower()


def test_the_readme_stays_a_users_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 250, "move deep dives and measurement history to docs/"
    for link in re.findall(r"\]\((docs/[^)]+)\)", "\n".join(lines)):
        assert (ROOT / link).is_file(), link
