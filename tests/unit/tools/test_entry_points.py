"""The guide's entry points work as typed, with a plain interpreter, and print for people."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from xorb_tools.core.services import ROOT
from xorb_tools.deploy import stack

# The interpreter the project's venv was made from: it does not have the project installed.
PLAIN = getattr(sys, "_base_executable", sys.executable)


def _plain(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [PLAIN, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_python_test_containers_help_runs_through_uv() -> None:
    uv_dir = str(Path(subprocess.check_output(["which", "uv"], text=True).strip()).parent)
    out = _plain("test_containers.py", "--help", path=f"{uv_dir}:/usr/bin:/bin")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "--service" in out.stdout and "--skip-build" in out.stdout


def test_python_test_containers_without_uv_says_what_to_run() -> None:
    out = _plain("test_containers.py", "--help", path="/nonexistent")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "uv run python test_containers.py" in lines[0]


def test_piped_output_has_no_control_characters() -> None:
    line = "\x1b[2Kapi-1  | \x1b[36mstarted\x1b[0m\r\n"
    assert stack.for_terminal(line, tty=False) == "api-1  | started\n"
    assert stack.for_terminal(line, tty=True) == line
