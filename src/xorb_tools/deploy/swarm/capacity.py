"""Capacity: the CPU and memory reservations a swarm can hold, checked before a deploy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy.swarm.adapt import RESERVATIONS_ENV
from xorb_tools.deploy.swarm.mounts import parse_bytes
from xorb_tools.deploy.swarm.node import manager


def capacity() -> tuple[float, int]:
    """(CPUs, memory bytes) of the swarm's ready, active nodes."""
    with engine.docker_errors("Listing the swarm's nodes"):
        nodes = manager().node.list()
    cpus, memory = 0.0, 0
    for node in nodes:
        if node.status.state != "ready" or node.spec.availability != "active":
            continue
        res = node.description.resources
        if res is None:
            continue
        cpus += (res.nano_cpus or 0) / 1e9
        memory += res.memory_bytes or 0
    return cpus, memory


def reserved(
    services_: Mapping[str, Any], counts: Mapping[str, int] | None = None
) -> tuple[float, int]:
    """(CPUs, bytes) a stack file reserves at its peak (start-first updates run one extra)."""
    cpus, memory = 0.0, 0
    for name, spec in services_.items():
        deploy = spec.get("deploy") or {}
        res = (deploy.get("resources") or {}).get("reservations") or {}
        if not res:
            continue
        replicas = (counts or {}).get(name, int(deploy.get("replicas", 1)))
        if (deploy.get("update_config") or {}).get("order") == "start-first":
            replicas += 1
        cpus += float(res.get("cpus", 0) or 0) * replicas
        memory += parse_bytes(res.get("memory", 0) or 0) * replicas
    return cpus, memory


def check_capacity(need: tuple[float, int], have: tuple[float, int]) -> None:
    """One sentence when ``need`` (CPUs, bytes) exceeds ``have``."""
    if need[0] > have[0] + 1e-9 or need[1] > have[1]:
        raise XorbError(
            f"The stack reserves {need[0]:g} CPUs and {need[1] / 2**30:.1f} GiB but the swarm's "
            f"nodes have {have[0]:g} CPUs and {have[1] / 2**30:.1f} GiB: add nodes, lower the "
            f"replicas, or set {RESERVATIONS_ENV}=off to deploy without reservations."
        )
