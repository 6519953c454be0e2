"""Each linter of `nox -s lint` fails on a planted violation (so a green lint means something).

The linters run on small files planted in a temporary directory, never on the tree.
`docker compose config` needs only the CLI, not a daemon.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xorb_tools.core.services import ROOT

BIN = Path(sys.executable).parent


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed in this environment")
    return found


def test_ruff_fails_on_an_unused_import(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import os\n")
    result = _run(
        _tool("ruff"), "check", "--config", str(ROOT / "pyproject.toml"), "bad.py", cwd=tmp_path
    )
    assert result.returncode != 0 and "F401" in result.stdout


def test_ruff_format_fails_on_unformatted_code(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("x = {  'a':1 }\n")
    result = _run(_tool("ruff"), "format", "--check", "bad.py", cwd=tmp_path)
    assert result.returncode != 0


def test_mypy_fails_on_a_type_error(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def f(x: int) -> str:\n    return x\n")
    result = _run(_tool("mypy"), "--strict", "--no-incremental", "bad.py", cwd=tmp_path)
    assert result.returncode != 0 and "Incompatible return value" in result.stdout


def test_hadolint_fails_on_a_root_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian:12\nUSER root\nRUN apt-get install curl\n")
    result = _run(
        _tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"), "Dockerfile", cwd=tmp_path
    )
    assert result.returncode != 0 and ("DL3002" in result.stdout or "DL3015" in result.stdout)


def test_shellcheck_fails_on_an_unquoted_variable(tmp_path: Path) -> None:
    (tmp_path / "bad.sh").write_text("#!/usr/bin/env bash\nrm -rf $1/*\n")
    result = _run(_tool("shellcheck"), "bad.sh", cwd=tmp_path)
    assert result.returncode != 0 and "SC2086" in result.stdout


WORKFLOW_BAD_SCHEMA = "name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n"
WORKFLOW_UNPINNED = (
    "name: x\non: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
    "    steps:\n      - uses: actions/checkout@v4\n"
)


def test_workflow_schema_check_fails_on_an_invalid_workflow(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text(WORKFLOW_BAD_SCHEMA)
    tool = _tool("check-jsonschema")
    result = _run(tool, "--builtin-schema", "vendor.github-workflows", "bad.yml", cwd=tmp_path)
    assert result.returncode != 0


def test_zizmor_fails_on_an_unpinned_action(tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "bad.yml").write_text(WORKFLOW_UNPINNED)
    result = _run(
        _tool("zizmor"),
        "--offline",
        "--min-severity",
        "medium",
        str(folder / "bad.yml"),
        cwd=tmp_path,
    )
    assert result.returncode != 0


def test_compose_config_fails_on_a_broken_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("no docker CLI")
    (tmp_path / "compose.yml").write_text("services:\n  api:\n    image: x\n    ports: 8000\n")
    result = _run(docker, "compose", "-f", "compose.yml", "config", "--quiet", cwd=tmp_path)
    assert result.returncode != 0
