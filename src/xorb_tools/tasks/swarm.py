"""Swarm tasks: ``swarm.init`` and ``swarm.leave`` (``inv deploy --engine swarm`` deploys,
``inv scale --engine swarm`` scales; see :mod:`xorb_tools.deploy.swarm`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools.deploy import swarm
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    swarm = lazy("xorb_tools.deploy.swarm")
from xorb_tools.tasks._util import console, user_errors


@task(
    name="init",
    help={"advertise_addr": "address other nodes reach this manager at (default 127.0.0.1)"},
)
@user_errors
def init(c: Context, advertise_addr: str = "127.0.0.1") -> None:
    """Make this Docker engine a single-node swarm manager (nothing to do when it is one)."""
    if swarm.init(advertise_addr):
        console.print(f"This engine is now a single-node swarm manager ({advertise_addr}).")
    else:
        console.print("This engine is already a swarm manager: nothing to do.")


@task(name="leave", help={"force": "really leave: every swarm service on this engine goes"})
@user_errors
def leave(c: Context, force: bool = False) -> None:
    """Leave the swarm (with --force: its services, secrets and configs are removed)."""
    if swarm.leave(force=force):
        console.print("This engine has left the swarm.")
    else:
        console.print("This engine is not part of a swarm: nothing to do.")


def collection() -> Collection:
    """The ``swarm`` namespace."""
    return Collection("swarm", init, leave)
