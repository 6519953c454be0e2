"""The service table and project settings, read once from ``pyproject.toml``.

Everything that loops over services (tasks, nox sessions, compose checks, benchmarks,
tests) reads :func:`load`; nothing else hard-codes a service name, port or budget.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from xorb_tools.core.errors import XorbError

ROOT = Path(__file__).resolve().parents[3]
PROJECT_VAR = "XORB_PROJECT"
"""Per-checkout namespace (default: the table's ``image-prefix``, ``xorb``): images are
``<namespace>/<name>``, compose projects and stacks ``<namespace>-<environment>``, so two
checkouts or CI jobs on one engine never touch each other's images or stacks."""
NAMESPACE_PATTERN = r"[a-z0-9][a-z0-9_-]*"


def reports_dir(root: Path = ROOT) -> Path:
    """Where reports go: ``XORB_REPORTS_DIR`` (act's jobs write ours there), else
    ``reports/`` in the project."""
    configured = os.environ.get("XORB_REPORTS_DIR")
    return Path(configured) if configured else root / "reports"


def shown(path: Path, root: Path = ROOT) -> str:
    """``path`` as a user should read it: relative to the project when inside it."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


PYPROJECT = ROOT / "pyproject.toml"


@dataclass(frozen=True)
class Service:
    """One row of the service table."""

    name: str
    package: str
    group: str
    image: str
    port: int
    health_path: str
    budget_mb: int

    def ref(self, tag: str, registry: str | None = None) -> str:
        """The image reference ``[registry/]image:tag``."""
        return f"{registry.rstrip('/')}/{self.image}:{tag}" if registry else f"{self.image}:{tag}"


@dataclass(frozen=True)
class Project:
    """Project-wide settings from ``[tool.xorb]``."""

    root: Path
    version: str
    namespace: str
    registry: str
    base_image: str
    local_base_image: str
    environments: tuple[str, ...]
    targets: tuple[str, ...]
    services: tuple[Service, ...]

    def service(self, name: str) -> Service:
        """Look a service up by name, failing with the list of known ones."""
        for svc in self.services:
            if svc.name == name:
                return svc
        known = ", ".join(s.name for s in self.services)
        raise XorbError(f"Unknown service {name!r}: choose from {known}.")

    def select(self, names: Iterable[str] | None) -> tuple[Service, ...]:
        """The services named (all when ``names`` is empty), in table order, no repeats."""
        wanted = [n for n in (names or []) if n]
        if not wanted:
            return self.services
        chosen = {self.service(n).name for n in wanted}
        return tuple(s for s in self.services if s.name in chosen)

    def check_environment(self, environment: str) -> str:
        """Return ``environment`` if known, else fail naming the known ones."""
        if environment not in self.environments:
            raise XorbError(
                f"Unknown environment {environment!r}: choose from {', '.join(self.environments)}."
            )
        return environment

    def check_target(self, target: str) -> str:
        """Return ``target`` if it is a build target of the Dockerfile, else fail."""
        if target not in self.targets:
            raise XorbError(f"Unknown target {target!r}: choose from {', '.join(self.targets)}.")
        return target


def parse(data: Mapping[str, object], root: Path = ROOT) -> Project:
    """Build a :class:`Project` from a parsed ``pyproject.toml``, checking the table."""
    tool = data.get("tool", {})
    xorb = tool.get("xorb") if isinstance(tool, dict) else None
    if not isinstance(xorb, dict):
        raise XorbError(f"{PYPROJECT.name} has no [tool.xorb] table.")
    # imported here, not at the top: pydantic costs every task's start and `inv --list`
    from xorb_tools.core import services_schema

    groups = data.get("dependency-groups", {})
    table = services_schema.validate(xorb, groups if isinstance(groups, dict) else {})
    namespace = os.environ.get(PROJECT_VAR) or table.image_prefix
    if not re.fullmatch(NAMESPACE_PATTERN, namespace):
        raise XorbError(
            f"{PROJECT_VAR}={namespace!r} is not a lowercase image namespace and compose "
            "project name (lowercase letters, digits, - and _, starting with a letter or digit)."
        )

    def renamed(image: str) -> str:
        prefix = f"{table.image_prefix}/"
        return f"{namespace}/{image.removeprefix(prefix)}" if image.startswith(prefix) else image

    meta = data.get("project", {})
    version = str(meta.get("version", "0.0.0")) if isinstance(meta, Mapping) else "0.0.0"
    return Project(
        root=root,
        version=version,
        namespace=namespace,
        registry=table.registry,
        base_image=table.base_image,
        local_base_image=renamed(table.local_base_image),
        environments=tuple(table.environments),
        targets=tuple(table.targets),
        services=tuple(
            Service(
                r.name, r.package, r.group, renamed(r.image), r.port, r.health_path, r.budget_mb
            )
            for r in table.services
        ),
    )


@functools.cache
def load(path: Path = PYPROJECT) -> Project:
    """Read the project settings and service table (cached)."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise XorbError(f"Cannot read {path}: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise XorbError(f"{path.name} is not valid TOML: {exc}.") from None
    return parse(data, root=path.parent)
