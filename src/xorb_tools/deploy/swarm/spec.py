"""What adapting a compose configuration for swarm takes and gives (pure): the options, the
notes for the user, the adapted stack file, and names that carry a hash of their content."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xorb_tools.core import inputs
from xorb_tools.core.errors import XorbError


class Notes:
    """Remarks for the user: one line per remark, naming the services it concerns."""

    def __init__(self) -> None:
        self._services: dict[str, list[str]] = {}

    def add(self, service: str, message: str) -> None:
        self._services.setdefault(message, []).append(service)

    def lines(self) -> list[str]:
        return [f"{message} ({', '.join(s)})" for message, s in self._services.items()]


@dataclass
class Adapted:
    """A rendered compose configuration made deployable by ``docker stack deploy``."""

    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    """One line per change a user may care about (a dropped option, a translation)."""


def content_hash(path: Path) -> str:
    """The first 12 hex digits of the SHA-256 of a file (names of secrets and configs)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError as exc:
        raise XorbError(
            f"Cannot read {path} ({exc.strerror}): create it or fix its path."
        ) from None


def check_version(version: str) -> str:
    """``version`` if it is a valid version (:func:`xorb_tools.core.inputs.version`)."""
    return inputs.version(version)


@dataclass(frozen=True)
class AdaptOptions:
    """What :func:`adapt` needs besides the configuration."""

    stack: str
    version: str
    app_images: frozenset[str]
    """Repositories (``xorb/api``...) whose tag is the release version."""
    endpoint_mode: str | None = None
    """Overrides every service's ``deploy.endpoint_mode`` (None: what the files say)."""
    publish_mode: str | None = None
    """Overrides every published port's ``mode`` (None: what the files say)."""
    reservations: bool = True
    image_users: Mapping[str, str] = field(default_factory=dict)
    """Image reference -> the user it runs as, for services without ``user:``."""
    hasher: Callable[[Path], str] = content_hash


def unnamed(raw: Any) -> dict[str, Any]:
    """A network/volume without the compose project's name: the stack prefixes its own."""
    spec: dict[str, Any] = dict(raw or {})
    if spec.get("external"):
        return spec
    return {k: v for k, v in spec.items() if k != "name" and v != {}}


def hashed(key: str, raw: Any, options: AdaptOptions, kind: str) -> dict[str, Any]:
    """A file-based secret/config, named ``<stack>_<key>_<content hash>``."""
    spec: dict[str, Any] = dict(raw or {})
    if spec.get("external"):
        return spec
    if not spec.get("file"):
        raise XorbError(
            f"The {kind} {key} is not a file ({', '.join(sorted(spec)) or 'empty'}): swarm "
            f"takes {kind}s from files or existing swarm {kind}s; point it at a file."
        )
    path = Path(str(spec["file"]))
    return {"name": f"{options.stack}_{safe_name(key)}_{options.hasher(path)}", "file": str(path)}


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "x"
