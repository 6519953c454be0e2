"""Working with a running cluster: where tasks run, draining a node, crashing one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from python_on_whales import DockerClient

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy.cluster import nodes as nodes_mod
from xorb_tools.deploy.cluster.nodes import Cluster

POLL = 1.0


def manager(cluster: Cluster) -> DockerClient:
    """The manager's client."""
    return engine.client(cluster.manager.docker_host)


def status(cluster: Cluster) -> list[tuple[str, str, str, str, str, str]]:
    """(node, address, state, availability, role, labels) per node, as the manager sees it."""
    with engine.docker_errors("Listing the cluster's nodes"):
        listed = {str(n.description.hostname): n for n in manager(cluster).node.list()}
    rows = []
    for info in cluster.nodes:
        n = listed.get(info.name)
        if n is None:
            rows.append((info.name, info.address, "missing", "-", "-", "-"))
            continue
        labels = ", ".join(f"{k}={v}" for k, v in sorted((n.spec.labels or {}).items()))
        rows.append(
            (
                info.name,
                info.address,
                str(n.status.state),
                str(n.spec.availability),
                str(n.spec.role),
                labels or "-",
            )
        )
    return rows


def placement(cluster: Cluster, stack: str) -> dict[str, list[str]]:
    """``{service: [node name of each running task]}`` for the services of ``stack``."""
    docker = manager(cluster)
    names = {str(n.id): str(n.description.hostname) for n in docker.node.list()}
    out: dict[str, list[str]] = {}
    with engine.docker_errors(f"Listing the tasks of {stack}"):
        for service in docker.service.list(
            filters=[("label", f"com.docker.stack.namespace={stack}")]
        ):
            short = str(service.spec.name).removeprefix(f"{stack}_")
            tasks = docker.service.ps(service)
            out[short] = sorted(
                names.get(str(t.node_id), "?")
                for t in tasks
                if t.desired_state == "running" and t.status.state == "running"
            )
    return out


def _settled(cluster: Cluster, stack: str, away_from: str | None) -> bool:
    """Every replicated service of ``stack`` runs its replicas, none on ``away_from``."""
    docker = manager(cluster)
    for service in docker.service.list(filters=[("label", f"com.docker.stack.namespace={stack}")]):
        mode: Any = service.spec.mode or {}
        wanted = (mode.get("Replicated") or {}).get("Replicas") if isinstance(mode, dict) else None
        if wanted is None:
            continue  # jobs and global services
        running = [
            t for t in docker.service.ps(service)
            if t.desired_state == "running" and t.status.state == "running"
        ]  # fmt: skip
        if len(running) != wanted:
            return False
    if away_from is None:
        return True
    return all(away_from not in where for where in placement(cluster, stack).values())


def drain(
    cluster: Cluster,
    name: str,
    stack: str | None,
    *,
    activate: bool = False,
    timeout: float = 180,
    say: Callable[[str], None] = print,
) -> float:
    """Set ``name`` to drain (or back to active) and wait until ``stack``'s replicas run
    elsewhere; the seconds that took. Swarm stops each task gracefully and starts its
    replacement on another node."""
    node = cluster.node(name)
    docker = manager(cluster)
    started = time.monotonic()
    availability = "active" if activate else "drain"
    with engine.docker_errors(f"Setting {name} to {availability}"):
        docker.node.update(node.name, availability=availability)
    say(f"{name}: {availability}")
    if stack is None:
        return time.monotonic() - started
    deadline = started + timeout
    while not _settled(cluster, stack, None if activate else node.name):
        if time.monotonic() > deadline:
            raise XorbError(
                f"The tasks of {stack} did not settle within {timeout:g} s after setting "
                f"{name} to {availability}: see `docker service ps` on the manager."
            )
        time.sleep(POLL)
    return time.monotonic() - started


def crash(cluster: Cluster, name: str) -> int:
    """Crash node ``name`` as a power cut would (every process of its engine killed; its
    link stays, so peers see a silent node). The manager cannot be crashed: it holds the
    swarm's state alone. Returns the processes killed."""
    if name == cluster.manager.name:
        workers = ", ".join(n.name for n in cluster.nodes[1:])
        raise XorbError(f"{name} is the only manager: crash a worker ({workers}).")
    node = cluster.node(name)
    return nodes_mod.engine_of(node.index, cluster.registry_alias).kill()
