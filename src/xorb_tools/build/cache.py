"""Build cache backends for ``inv build``: local, registry, GitHub Actions, inline, none.

Every mode reads the environment's previous cache (so a fresh builder with an empty store
reuses it) and writes a new one. A local cache is exported to a fresh directory and swapped
in only after the build succeeded: the directory does not grow without bound (buildx 0.13
has no ``reset=true``), and a failed build leaves the old cache intact.

Two things keep the local export cheap:

- the fresh directory starts with hard links to the old cache's blobs, so BuildKit skips
  every blob it already holds (the content store answers "already exists"), and after the
  build the blobs the new index no longer references are dropped (:func:`collect_garbage`);
- the directory records a fingerprint of the build's inputs (:mod:`xorb_tools.build.context`):
  a build whose inputs match it would export the same cache again, so it exports nothing
  (:meth:`CachePlan.skip_export`).

A registry cache gets the same fingerprint check through a marker artifact next to it
(:func:`registry.read_marker`): it vouches for one cache manifest digest, so a cache
another build has overwritten since is exported again."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from xorb_tools.build import gha
from xorb_tools.build.cache_layout import collect_garbage, link_blobs
from xorb_tools.core import registry
from xorb_tools.core.errors import XorbError
from xorb_tools.core.registry import Ref
from xorb_tools.core.services import Service

MODES = ("auto", "local", "registry", "gha", "inline", "none")
FINGERPRINT_FILE = "xorb-inputs.sha256"


def pick_mode(mode: str, *, push: bool, env: Mapping[str, str] | None = None) -> str:
    """Resolve ``auto``: gha when its runtime reaches this step, registry when pushing,
    local otherwise."""
    if mode not in MODES:
        raise XorbError(f"Unknown cache mode {mode!r}: choose from {', '.join(MODES)}.")
    if mode != "auto":
        return mode
    if gha.available(env):
        return "gha"
    return "registry" if push else "local"


def auto_note(requested: str, mode: str, env: Mapping[str, str] | None = None) -> str | None:
    """One line when ``auto`` ran in GitHub Actions but could not use its cache."""
    if requested != "auto" or mode == "gha" or not gha.in_github_actions(env):
        return None
    return (
        f"cache: {mode}, not gha: this GitHub Actions step has no cache runtime "
        "(export it with crazy-max/ghaction-github-runtime)"
    )


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
    fingerprint: str | None = None
    remote: Ref | None = None
    remote_before: str | None = None

    def as_bake(self) -> dict[str, list[str]]:
        """The plan as bake target attributes (``cache-from`` / ``cache-to`` strings)."""
        out: dict[str, list[str]] = {"cache-from": [_csv(c) for c in self.cache_from]}
        out["cache-to"] = [_csv(self.cache_to)] if self.cache_to else []
        return out

    def skip_export(self, fingerprint: str) -> bool:
        """Export nothing when the cache was written by a build of the same inputs.

        Otherwise remember ``fingerprint`` for :meth:`commit`. True only for a local plan
        whose directory is intact and records exactly ``fingerprint``, or a registry plan
        whose marker vouches for ``fingerprint`` and the cache manifest the tag holds now.
        """
        self.fingerprint = fingerprint
        if self.remote is not None:
            current = registry.manifest_digest(self.remote)
            self.remote_before = current
            if current is None or registry.read_marker(self.remote) != (fingerprint, current):
                return False
            self.cache_to = None
            return True
        if self.local_dir is None or not self.cache_from:
            return False
        try:
            recorded = (self.local_dir / FINGERPRINT_FILE).read_text().strip()
        except OSError:
            return False
        if recorded != fingerprint:
            return False
        self.cache_to = None
        self.staging_dir = None
        return True

    def prepare(self) -> None:
        """Before the build: start the staging directory with links to the current blobs."""
        if self.staging_dir is None or self.local_dir is None or not self.cache_from:
            return
        shutil.rmtree(self.staging_dir, ignore_errors=True)
        link_blobs(self.local_dir, self.staging_dir)

    def commit(self) -> None:
        """After a successful build: swap the freshly exported local cache in atomically,
        or mark the registry cache this build exported with its inputs."""
        if self.remote is not None:
            self._mark_remote()
            return
        if self.local_dir is None or self.staging_dir is None or not self.staging_dir.exists():
            return
        if not (self.staging_dir / "index.json").exists():
            self.discard()  # nothing was exported (e.g. the build was cancelled): keep the old
            return
        collect_garbage(self.staging_dir)
        if self.fingerprint:
            (self.staging_dir / FINGERPRINT_FILE).write_text(self.fingerprint + "\n")
        old = self.local_dir.with_name(self.local_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.local_dir.exists():
            self.local_dir.rename(old)
        self.staging_dir.rename(self.local_dir)
        shutil.rmtree(old, ignore_errors=True)

    def _mark_remote(self) -> None:
        # Only a tag that moved during the build is vouched for: the export is best effort
        # (ignore-error), so an unchanged tag may still hold another build's cache.
        if self.remote is None or self.cache_to is None or not self.fingerprint:
            return
        after = registry.manifest_digest(self.remote)
        if after and after != self.remote_before:
            registry.write_marker(self.remote, self.fingerprint, after)

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
    target: str = "production",
    gha_export: str = "max",
) -> CachePlan:
    """The cache-from / cache-to for ``service`` in ``environment`` under ``mode``.

    ``target`` and ``gha_export`` matter to gha only: one scope per image and environment,
    exported with ``mode=gha_export`` (:func:`gha.export_mode` sizes it).
    """
    if mode == "none":
        return CachePlan(mode)
    if mode == "local":
        local = cache_root(project_root) / environment / service.name
        staging = local.with_name(f"{local.name}.new-{os.getpid()}")
        cache_from = [{"type": "local", "src": str(local)}] if check_local_dir(local) else []
        return CachePlan(
            mode,
            cache_from=cache_from,
            # zstd: the intermediate layers only mode=max exports are compressed for the
            # cache alone (a cold bake measured 48 s with zstd, 52-55 s with gzip); the
            # images stay gzip (BuildPlan.output forces it).
            cache_to={"type": "local", "dest": str(staging), "mode": "max", "compression": "zstd"},
            local_dir=local,
            staging_dir=staging,
        )
    if mode == "registry":
        ref = f"{registry.rstrip('/')}/{service.image}:buildcache-{environment}"
        return CachePlan(
            mode,
            cache_from=[{"type": "registry", "ref": ref}],
            cache_to={"type": "registry", "ref": ref, "mode": "max", "ignore-error": "true"},
            remote=Ref.parse(ref),
        )
    if mode == "gha":
        spec = {"type": "gha", "scope": gha.scope(service.image, environment, target)}
        return CachePlan(
            mode,
            cache_from=[dict(spec)],
            cache_to={**spec, "mode": gha_export, "ignore-error": "true"},
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
