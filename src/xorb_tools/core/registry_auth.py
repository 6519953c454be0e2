"""Logging in to a registry as the docker CLI does, for :mod:`xorb_tools.core.registry`'s own
calls (signatures, attestations, cache markers): the credentials ``docker login`` stored
(``~/.docker/config.json``: an ``auth`` entry, or a credential helper), answered to the
registry's challenge: HTTP Basic, or a bearer token from the registry's token service
(ghcr.io, Docker Hub, most hosted registries).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

TIMEOUT = 10.0
PARAM = re.compile(r'(\w+)="([^"]*)"')


def config_path() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def credentials(host: str) -> tuple[str, str] | None:
    """(user, secret) ``docker login`` stored for ``host``; None when there are none."""
    try:
        config = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return None
    entry = (config.get("auths") or {}).get(host) or {}
    if entry.get("auth"):
        user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
        return user, secret
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if not helper:
        return None
    try:
        done = subprocess.run(  # docker's credential-helper protocol
            [f"docker-credential-{helper}", "get"],
            input=host,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        found = json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return (found["Username"], found["Secret"]) if found.get("Secret") else None


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def authorization(host: str, challenge: str) -> str | None:
    """The ``Authorization`` value answering ``challenge`` (a ``WWW-Authenticate`` header);
    None when it cannot be answered (no credentials, or the token service refused)."""
    scheme, _, rest = challenge.partition(" ")
    params = dict(PARAM.findall(rest))
    creds = credentials(host)
    if scheme.lower() == "basic":
        return _basic(*creds) if creds else None
    if scheme.lower() != "bearer" or not params.get("realm", "").startswith("http"):
        return None
    query = {k: v for k, v in params.items() if k in ("service", "scope")}
    url = f"{params['realm']}?{urllib.parse.urlencode(query)}"
    headers = {"Authorization": _basic(*creds)} if creds else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) realm
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:  # noqa: S310
            answer = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    token = answer.get("token") or answer.get("access_token")
    return f"Bearer {token}" if token else None
