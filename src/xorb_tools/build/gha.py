"""The GitHub Actions cache backend: whether a step can use it, which protocol, how much.

buildx reads the cache service's address and token from the step's environment. A `run:`
step gets them only when an earlier step exported them (``crazy-max/ghaction-github-runtime``
does); without them ``--cache-to type=gha`` silently does nothing, so :func:`runtime` says
why it cannot be used and ``auto`` falls back with one line instead.

Two protocols exist. v1 (``ACTIONS_CACHE_URL``) is what buildx < 0.21 / BuildKit < 0.20 speak
and what act's built-in cache server serves; GitHub retired it in 2025. v2
(``ACTIONS_RESULTS_URL``, announced by ``ACTIONS_CACHE_SERVICE_V2``) needs buildx >= 0.21 and
BuildKit >= 0.20 (docker-ce 28 on GitHub's runners has both).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from xorb_tools.core.errors import XorbError

V2_MIN_BUILDX = (0, 21)
TOKEN = "ACTIONS_RUNTIME_TOKEN"  # noqa: S105 (the variable's name, not a secret)
V1_URL = "ACTIONS_CACHE_URL"
V2_URL = "ACTIONS_RESULTS_URL"
V2_FLAG = "ACTIONS_CACHE_SERVICE_V2"
EXPORT_HINT = (
    "add `crazy-max/ghaction-github-runtime` before this step (it exports "
    f"{TOKEN} and the cache URL to `run:` steps)"
)
# GitHub keeps 10 GB of cache per repository and evicts the least recently used beyond it.
BUDGET_GB = 10.0
# What one image's mode=max export weighs in the cache service. Measured with act's cache
# server (reports/workflows.json, gha_cache_mb): 271 MB for the four scopes a CI run writes
# (three production images, api's testing image), about 70 MB a scope, as blobs are keyed by
# digest and shared between scopes. 160 MB leaves room for a scope whose blobs no other one
# shares (the testing images' test dependencies, a changed lock's second copy).
MAX_MODE_MB = 160.0


@dataclass(frozen=True)
class Runtime:
    """The cache service this step reaches: protocol 1 or 2, its URL, and why."""

    protocol: int
    url: str
    detail: str


def _version(raw: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in raw.lstrip("v").split("+")[0].split("-")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def speaks_v2(buildx: str) -> bool:
    """Whether this buildx forwards the v2 protocol (>= 0.21)."""
    return _version(buildx) >= V2_MIN_BUILDX


def runtime(buildx: str, env: Mapping[str, str] | None = None) -> Runtime:
    """The cache service exported to this step, or XorbError saying what is missing."""
    environ = os.environ if env is None else env
    token = environ.get(TOKEN, "")
    v1, v2 = environ.get(V1_URL, ""), environ.get(V2_URL, "")
    wants_v2 = environ.get(V2_FLAG, "").lower() in ("1", "true") or (v2 and not v1)
    if not token or not (v1 or v2):
        raise XorbError(
            f"The GitHub Actions cache runtime is not exported to this step ({TOKEN} and "
            f"{V1_URL} or {V2_URL} are unset): {EXPORT_HINT}."
        )
    if wants_v2:
        if not speaks_v2(buildx):
            raise XorbError(
                f"This cache service speaks only protocol v2, which needs buildx >= "
                f"{'.'.join(map(str, V2_MIN_BUILDX))} (this host has {buildx}): upgrade "
                "buildx, or use --cache registry."
            )
        return Runtime(2, v2, f"protocol v2 ({V2_URL}; buildx {buildx})")
    return Runtime(1, v1, f"protocol v1 ({V1_URL}; buildx {buildx})")


def available(env: Mapping[str, str] | None = None) -> bool:
    """Whether a token and a cache URL reach this step (the protocol is not checked)."""
    environ = os.environ if env is None else env
    return bool(environ.get(TOKEN) and (environ.get(V1_URL) or environ.get(V2_URL)))


def in_github_actions(env: Mapping[str, str] | None = None) -> bool:
    """Whether this runs inside a GitHub Actions job (or act, which sets the same)."""
    environ = os.environ if env is None else env
    return environ.get("GITHUB_ACTIONS") == "true"


def scope(image: str, environment: str, target: str) -> str:
    """One cache scope per image and environment: ``api-production-production``."""
    return f"{image.rsplit('/', 1)[-1]}-{environment}-{target}"


def export_mode(scopes: int, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``max`` when every scope's mode=max export fits in 80% of the budget, else ``min``.

    ``scopes`` is how many scopes the repository can write (services x environments x
    targets: the worst case). ``XORB_GHA_CACHE_BUDGET_GB`` sets the budget (default 10, what
    GitHub keeps per repository); the rest is left to other caches (uv's, setup-uv's).
    """
    environ = os.environ if env is None else env
    raw = environ.get("XORB_GHA_CACHE_BUDGET_GB", "")
    try:
        budget = float(raw) if raw else BUDGET_GB
    except ValueError:
        raise XorbError(f"XORB_GHA_CACHE_BUDGET_GB={raw!r} is not a number of gigabytes.") from None
    need_gb = scopes * MAX_MODE_MB / 1000
    if need_gb <= 0.8 * budget:
        return "max", f"{scopes} scopes x {MAX_MODE_MB:.0f} MB fit in 80% of {budget:g} GB"
    return "min", f"{scopes} scopes x {MAX_MODE_MB:.0f} MB exceed 80% of {budget:g} GB"
