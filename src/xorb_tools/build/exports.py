"""Cache exports a build can skip: a local or registry cache that already holds exactly this
build's inputs (its bake target, how the cache is written, the build context and the base
image) is not exported again (:mod:`xorb_tools.build.cache` keeps the record)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from xorb_tools.build import context
from xorb_tools.build.planning import DOCKERFILE, BuildPlan
from xorb_tools.core import engine, registry
from xorb_tools.core.errors import XorbError


def fingerprint(
    target: dict[str, Any], cache_to: dict[str, str] | None, context_digest: str, base_id: str
) -> str:
    """A digest of everything that decides an image's cache: its bake target (arguments,
    target, platforms), how the cache is written (not where), the build context and the
    base image's id."""
    inputs = {
        "target": {k: v for k, v in target.items() if k not in ("cache-from", "cache-to")},
        "cache-to": {k: v for k, v in (cache_to or {}).items() if k != "dest"},
        "context": context_digest,
        "base": base_id,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def skip_redundant(build_plan: BuildPlan) -> list[str]:
    """Drop the local or registry cache export of every image whose cache already holds
    these inputs.

    Returns the names of the services whose export is skipped.
    """
    exporting = [
        b for b in build_plan.builds if b.cache.mode in ("local", "registry") and b.cache.cache_to
    ]
    if not exporting or build_plan.options.no_cache_filter:
        return []
    base_id = _base_id(build_plan.base_image)
    if not base_id:  # a base the engine does not hold and the registry will not name
        return []
    targets = build_plan.bake_definition()["target"]
    digest = context.digest(build_plan.project.root, DOCKERFILE)
    return [
        b.service.name
        for b in exporting
        if b.cache.skip_export(
            fingerprint(targets[b.service.name], b.cache.cache_to, digest, base_id)
        )
    ]


def _base_id(base: str) -> str:
    """The base image's id, or its digest in a registry (a multi-platform base lives there
    only); "" when neither is known."""
    client = engine.client()
    if client.image.exists(base):
        return str(client.image.inspect(base).id)
    try:
        return registry.manifest_digest(registry.Ref.parse(base)) or ""
    except XorbError:  # not a registry reference
        return ""
