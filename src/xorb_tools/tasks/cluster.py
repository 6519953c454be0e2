"""Cluster tasks: ``cluster.up|down|status|drain``, a real multi-node swarm on this host
(see :mod:`xorb_tools.deploy.cluster`). Deploy to it with ``inv deploy --engine swarm``
after exporting the variables ``cluster.up`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from xorb_tools.tasks._util import console, lazy, table, user_errors

if TYPE_CHECKING:
    from xorb_tools.core import services
    from xorb_tools.deploy import cluster
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    cluster = lazy("xorb_tools.deploy.cluster")
    services = lazy("xorb_tools.core.services")


def _say(message: str) -> None:
    console.print(f"cluster: {message}")


@task(help={"nodes": "how many nodes (2-9; default 3): node1 manages, the others work"})
@user_errors
def up(c: Context, nodes: int = 3) -> None:
    """Start a multi-node swarm here: one dockerd per node in its own network namespace."""
    services.load()  # a broken table stops here, before anything is made
    made = cluster.up(nodes, _say)
    status(c)
    console.print("Point the swarm tasks at it (images are still built on this engine):")
    for key, value in made.environment().items():
        console.print(f"  export {key}={value}")


@task
@user_errors
def down(c: Context) -> None:
    """Remove the cluster: engines, namespaces, bridge, firewall rules and their data."""
    services.load()
    left = cluster.down(_say)
    if left:
        raise cluster.XorbError(f"Some of the cluster is still here: {'; '.join(left)}.")
    console.print("The cluster is gone (no namespace, engine, interface or rule left).")


@task
@user_errors
def status(c: Context) -> None:
    """Print the cluster's nodes: address, state, availability, role, labels."""
    services.load()
    running = cluster.require()
    table(
        "Cluster nodes",
        ["node", "address", "state", "availability", "role", "labels"],
        cluster.status(running),
    )


@task(
    help={
        "node": "the node to drain (node2...)",
        "environment": "wait until this environment's stack runs elsewhere (default production)",
        "activate": "undo: make the node available for tasks again",
        "timeout": "seconds to wait for the tasks to move (default 180)",
    },
    positional=["node"],
)
@user_errors
def drain(
    c: Context,
    node: str,
    environment: str = "production",
    activate: bool = False,
    timeout: int = 180,
) -> None:
    """Move every task off a node (swarm stops each gracefully and starts it elsewhere)."""
    services.load().check_environment(environment)
    running = cluster.require()
    stack = cluster.stack_name(environment)
    seconds = cluster.drain(running, node, stack, activate=activate, timeout=timeout, say=_say)
    console.print(
        f"{stack}: settled {seconds:.1f} s after {node} became "
        f"{'active' if activate else 'drained'}."
    )


def collection() -> Collection:
    """The ``cluster`` namespace."""
    return Collection("cluster", up, down, status, drain)
