"""This engine's place in a swarm: ``inv swarm.init|leave``, the manager check, stack names."""

from __future__ import annotations

import os
import re

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from xorb_tools.core import engine, names
from xorb_tools.core.errors import XorbError

SWARM_HOST_VAR = "XORB_SWARM_HOST"
"""The swarm manager's engine (``unix://...``/``tcp://...``), when it is not this one: a
cluster's first node (``inv cluster.up`` prints it). Images are still built and pushed
on this engine."""
INIT_HINT = (
    f"run `uv run inv swarm.init` (a single-node swarm), `uv run inv cluster.up` (several), "
    f"or set {SWARM_HOST_VAR} to a manager"
)


def manager() -> DockerClient:
    """The client of the engine that runs swarm commands (see :data:`SWARM_HOST_VAR`)."""
    return engine.client(os.environ.get(SWARM_HOST_VAR) or None)


def stack_name(environment: str) -> str:
    """The swarm stack of ``environment``: its compose project name (``xorb-<environment>``)."""
    name = names.project_name(environment)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,48}", name):
        raise XorbError(
            f"{name!r} is not a stack name: set {names.PROJECT_PREFIX_VAR} to lower-case "
            "letters, digits, - and _."
        )
    return name


def node_state(docker: DockerClient | None = None) -> tuple[str, bool]:
    """(``LocalNodeState``, whether this node is a manager) of the engine's swarm."""
    docker = docker or manager()
    host = os.environ.get(SWARM_HOST_VAR)
    if not host:
        engine.require_daemon()
        with engine.docker_errors("Reading the swarm state (docker info)"):
            swarm = docker.info().swarm
    else:
        try:
            swarm = docker.info().swarm
        except DockerException:
            raise XorbError(
                f"The swarm manager {host} ({SWARM_HOST_VAR}) does not answer: start the "
                f"cluster (`uv run inv cluster.up`) or point {SWARM_HOST_VAR} at a manager."
            ) from None
    state = str(swarm.local_node_state or "inactive") if swarm else "inactive"
    return state, bool(swarm and swarm.control_available)


def require_manager() -> None:
    """Fail in one sentence unless the engine is a swarm manager."""
    state, is_manager = node_state()
    if not is_manager:
        what = "is not part of a swarm" if state == "inactive" else f"is a swarm {state} worker"
        raise XorbError(f"This Docker engine {what}: {INIT_HINT}.")


def init(advertise_addr: str = "127.0.0.1") -> bool:
    """Make this engine a single-node swarm manager; False when it already was one."""
    state, is_manager = node_state()
    if is_manager:
        return False
    if state != "inactive":
        raise XorbError(
            f"This engine's swarm state is {state!r}: leave it first with "
            "`uv run inv swarm.leave --force`, then run `uv run inv swarm.init`."
        )
    with engine.docker_errors(
        f"Creating a swarm (docker swarm init --advertise-addr {advertise_addr})"
    ):
        manager().swarm.init(advertise_address=advertise_addr)
    return True


def leave(*, force: bool) -> bool:
    """Leave the swarm (its services go with it); False when there was none."""
    state, _ = node_state()
    if state == "inactive":
        return False
    if not force:
        raise XorbError(
            "Leaving the swarm removes every service it runs: repeat with --force to do it."
        )
    with engine.docker_errors("Leaving the swarm (docker swarm leave --force)"):
        manager().swarm.leave(force=True)
    return True
