"""Where a stack's tasks may run and what every node pulls (pure: no engine).

- **Node labels**: a ``placement.constraints`` entry ``node.labels.K == V`` needs a node
  that carries ``K=V`` (the production file pins data services to ``xorb.data=true``, nginx
  to ``xorb.edge=true``); :func:`required_labels` lists them per service.
- **Digests**: on more than one node, every image of the stack file is replaced by
  ``<registry>/<repository>@sha256:...`` (:func:`pin_images`), so each node pulls exactly
  what was built, never whatever a tag points at by then.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

DATA_LABEL = "xorb.data"
"""The node that holds the data services' volumes (production file's constraints)."""
EDGE_LABEL = "xorb.edge"
"""The node whose address clients use (nginx, host-mode ports)."""
_LABEL = re.compile(r"^\s*node\.labels\.([A-Za-z0-9_.-]+)\s*==\s*(\S+)\s*$")


def required_labels(config: Mapping[str, Any]) -> dict[tuple[str, str], list[str]]:
    """``{(label, value): [services]}`` that the stack file's constraints ask for."""
    out: dict[tuple[str, str], list[str]] = {}
    for name, spec in sorted((config.get("services") or {}).items()):
        placement = (spec.get("deploy") or {}).get("placement") or {}
        for constraint in placement.get("constraints") or []:
            match = _LABEL.match(str(constraint))
            if match:
                out.setdefault((match[1], match[2]), []).append(str(name))
    return out


def images_of(config: Mapping[str, Any]) -> list[str]:
    """Every image reference the stack file runs, once, sorted."""
    return sorted(
        {str(s["image"]) for s in (config.get("services") or {}).values() if s.get("image")}
    )


def pinned_ref(registry: str, ref: str, digest: str) -> str:
    """``xorb/api:1.0`` + ``sha256:ab..`` -> ``<registry>/xorb/api@sha256:ab..``."""
    last = ref.rsplit("/", 1)[-1]
    repository = ref.rsplit(":", 1)[0] if ":" in last else ref
    return f"{registry.rstrip('/')}/{repository}@{digest}"


def pin_images(config: Mapping[str, Any], pinned: Mapping[str, str]) -> dict[str, Any]:
    """The stack file with every image in ``pinned`` (ref -> pinned ref) replaced; an image
    left out stays as it is."""
    out = copy.deepcopy(dict(config))
    for spec in (out.get("services") or {}).values():
        image = str(spec.get("image") or "")
        if image in pinned:
            spec["image"] = pinned[image]
    return out
