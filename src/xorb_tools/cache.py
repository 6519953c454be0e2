"""Build cache backends for ``inv build``: local, registry, GitHub Actions, inline, none.

Every mode reads the environment's previous cache (so a fresh builder with an empty store
reuses it) and writes a new one. A local cache is exported to a fresh directory and swapped
in only after the build succeeded: the directory does not grow without bound (buildx 0.13
has no ``reset=true``), and a failed build leaves the old cache intact.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from xorb_tools.errors import XorbError
from xorb_tools.services import Service

MODES = ("auto", "local", "registry", "gha", "inline", "none")


def in_github_actions(env: dict[str, str] | None = None) -> bool:
    """Whether we run inside a GitHub Actions job with the cache runtime token exported."""
    environ = os.environ if env is None else env
    return environ.get("GITHUB_ACTIONS") == "true"


def pick_mode(mode: str, *, push: bool, env: dict[str, str] | None = None) -> str:
    """Resolve ``auto``: gha inside GitHub Actions, registry when pushing, local otherwise."""
    if mode not in MODES:
        raise XorbError(f"Unknown cache mode {mode!r}: choose from {', '.join(MODES)}.")
    if mode != "auto":
        return mode
    if in_github_actions(env):
        return "gha"
    return "registry" if push else "local"


def cache_root(project_root: Path) -> Path:
    """Where local caches live (``XORB_CACHE_DIR`` or ``.cache/buildx`` in the project)."""
    configured = os.environ.get("XORB_CACHE_DIR")
    return Path(configured) if configured else project_root / ".cache" / "buildx"


def check_local_dir(path: Path) -> bool:
    """True when ``path`` holds a usable local cache, False when absent; error when corrupt."""
    if not path.exists():
        return False
    index = path / "index.json"
    try:
        data = json.loads(index.read_text())
        if not isinstance(data, dict) or "manifests" not in data:
            raise ValueError("no manifests")
    except (OSError, ValueError) as exc:
        raise XorbError(
            f"Local build cache {path} is corrupt ({exc.__class__.__name__}: index.json "
            f"unreadable): remove it or run `inv clean`, then build again."
        ) from None
    return True


@dataclass
class CachePlan:
    """Cache settings for one service's build, and the local swap to do afterwards."""

    mode: str
    cache_from: list[dict[str, str]] = field(default_factory=list)
    cache_to: dict[str, str] | None = None
    local_dir: Path | None = None
    staging_dir: Path | None = None

    def as_bake(self) -> dict[str, list[str]]:
        """The plan as bake target attributes (``cache-from`` / ``cache-to`` strings)."""
        out: dict[str, list[str]] = {"cache-from": [_csv(c) for c in self.cache_from]}
        out["cache-to"] = [_csv(self.cache_to)] if self.cache_to else []
        return out

    def commit(self) -> None:
        """After a successful build: swap the freshly exported local cache in atomically."""
        if self.local_dir is None or self.staging_dir is None or not self.staging_dir.exists():
            return
        old = self.local_dir.with_name(self.local_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.local_dir.exists():
            self.local_dir.rename(old)
        self.staging_dir.rename(self.local_dir)
        shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        """After a failed build: drop the partial export, keep the old cache."""
        if self.staging_dir is not None:
            shutil.rmtree(self.staging_dir, ignore_errors=True)


def _csv(spec: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in spec.items())


def plan(
    mode: str,
    service: Service,
    environment: str,
    *,
    project_root: Path,
    registry: str,
) -> CachePlan:
    """The cache-from / cache-to for ``service`` in ``environment`` under ``mode``."""
    scope = f"{service.name}-{environment}"
    if mode == "none":
        return CachePlan(mode)
    if mode == "local":
        local = cache_root(project_root) / environment / service.name
        staging = local.with_name(f"{local.name}.new-{os.getpid()}")
        cache_from = [{"type": "local", "src": str(local)}] if check_local_dir(local) else []
        return CachePlan(
            mode,
            cache_from=cache_from,
            cache_to={"type": "local", "dest": str(staging), "mode": "max"},
            local_dir=local,
            staging_dir=staging,
        )
    if mode == "registry":
        ref = f"{registry.rstrip('/')}/{service.image}:buildcache-{environment}"
        return CachePlan(
            mode,
            cache_from=[{"type": "registry", "ref": ref}],
            cache_to={"type": "registry", "ref": ref, "mode": "max", "ignore-error": "true"},
        )
    if mode == "gha":
        spec = {"type": "gha", "scope": scope}
        return CachePlan(
            mode,
            cache_from=[dict(spec)],
            cache_to={**spec, "mode": "max", "ignore-error": "true"},
        )
    if mode == "inline":
        ref = f"{registry.rstrip('/')}/{service.image}:{environment}"
        return CachePlan(
            mode, cache_from=[{"type": "registry", "ref": ref}], cache_to={"type": "inline"}
        )
    raise XorbError(f"Unknown cache mode {mode!r}: choose from {', '.join(MODES)}.")


def dir_size(path: Path) -> int:
    """Bytes under ``path`` (0 when absent)."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
