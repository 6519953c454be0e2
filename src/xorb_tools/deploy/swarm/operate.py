"""Running a deployed stack: scale it, prune its unused secrets and configs, remove it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import stack as stack_mod
from xorb_tools.deploy.swarm.capacity import capacity, check_capacity, reserved
from xorb_tools.deploy.swarm.converge import (
    NAMESPACE_LABEL,
    ServiceState,
    docker_lines,
    snapshot,
    update_key,
    wait,
)
from xorb_tools.deploy.swarm.node import manager, require_manager, stack_name


def _say(message: str) -> None:
    print(f"swarm: {message}", file=sys.stderr, flush=True)


def prune(stack: str) -> list[str]:
    """Remove the stack's secrets and configs no service spec (current or previous) uses."""
    snap = snapshot(stack)
    used: set[str] = set()
    for service in snap.services.values():
        for spec in (service.get("Spec"), service.get("PreviousSpec")):
            container = ((spec or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
            used |= {str(s.get("SecretName")) for s in container.get("Secrets") or []}
            used |= {str(c.get("ConfigName")) for c in container.get("Configs") or []}
    docker = manager()
    label = f"{NAMESPACE_LABEL}={stack}"
    # Names only, through the CLI: python-on-whales' Secret objects print a debug line
    # ("reference: <id>") for each secret they load.
    owned = [
        (kind, name)
        for kind in ("secret", "config")
        for name in docker_lines(kind, "ls", "--filter", f"label={label}", "--format", "{{.Name}}")
    ]
    removed = []
    for kind, name in owned:
        if name in used:
            continue
        try:
            run([*docker.client_config.docker_cmd, kind, "rm", name])
        except DockerException:
            continue  # in use after all: keep it
        removed.append(name)
    return removed


def scale(
    environment: str, scales: Mapping[str, int], *, timeout: int = stack_mod.WAIT_TIMEOUT
) -> list[ServiceState]:
    """Set replica counts of the stack's services and wait until they run and are healthy."""
    require_manager()
    stack = stack_name(environment)
    snap = snapshot(stack)
    if not snap.services:
        raise XorbError(
            f"There is no swarm stack {stack}: deploy it first with `uv run inv deploy "
            f"--environment {environment} --engine swarm --version VERSION`."
        )
    unknown = sorted(set(scales) - set(snap.services))
    if unknown:
        raise XorbError(
            f"Unknown service(s) {', '.join(unknown)}: the stack {stack} has "
            f"{', '.join(sorted(snap.services))}."
        )
    jobs = [n for n in scales if "Replicated" not in (snap.services[n]["Spec"].get("Mode") or {})]
    if jobs:
        raise XorbError(f"{', '.join(jobs)} cannot be scaled: only replicated services can.")
    files = {n: _file_view(s) for n, s in snap.services.items()}
    check_capacity(reserved(files, scales), capacity())
    before = {n: update_key(snap.services[n]) for n in scales}
    with engine.docker_errors(f"Scaling {stack} (docker service scale)"):
        manager().service.scale({f"{stack}_{n}": c for n, c in scales.items()}, detach=True)
    return wait(stack, scales, before, timeout=timeout, say=_say)


def _file_view(service: Mapping[str, Any]) -> dict[str, Any]:
    """A running service's reservations and replicas, in stack-file shape (for reserved())."""
    spec = service["Spec"]
    res = ((spec.get("TaskTemplate") or {}).get("Resources") or {}).get("Reservations") or {}
    deploy: dict[str, Any] = {
        "replicas": (spec.get("Mode", {}).get("Replicated") or {}).get("Replicas", 1),
        "update_config": {"order": (spec.get("UpdateConfig") or {}).get("Order", "stop-first")},
    }
    if res:
        deploy["resources"] = {
            "reservations": {
                "cpus": res.get("NanoCPUs", 0) / 1e9,
                "memory": res.get("MemoryBytes", 0),
            }
        }
    return {"deploy": deploy}


def remove(stack: str) -> None:
    """``docker stack rm`` (secrets, configs and networks of the stack go too)."""
    with engine.docker_errors(f"Removing the stack {stack}"):
        manager().stack.remove(stack)
