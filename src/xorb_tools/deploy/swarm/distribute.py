"""Getting a release onto every node of a swarm: the node labels its placement needs, and,
on more than one node, its images through a registry, pinned by digest.

A single-node swarm runs the images of this engine's store as they are (no registry). With
more nodes, every image the stack file names is pushed from this engine to the registry
(``--registry``, default the table's, ``localhost:5000``) and the stack file names it as
``<registry as the nodes reach it>/<repository>@sha256:...``: the nodes pull exactly what
was built. The registry is checked before anything is pushed or deployed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xorb_tools.core import engine, images, inputs, registry
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy.swarm.node import manager
from xorb_tools.deploy.swarm.placement import images_of, pinned_ref, required_labels

REGISTRY_ALIAS_VAR = "XORB_SWARM_REGISTRY"
"""The registry as the swarm's nodes reach it, when that differs from where this engine
pushes (a cluster from ``inv cluster.up``: its nodes reach this host's ``localhost:5000``
on the cluster bridge)."""


@dataclass(frozen=True)
class Node:
    """One swarm node as placement sees it."""

    id: str
    hostname: str
    ready: bool
    labels: Mapping[str, str]


def nodes() -> list[Node]:
    """The swarm's nodes (ask the manager)."""
    with engine.docker_errors("Listing the swarm's nodes"):
        listed = manager().node.list()
    return [
        Node(
            str(n.id),
            str(n.description.hostname if n.description else n.id),
            n.status.state == "ready" and n.spec.availability == "active",
            dict(n.spec.labels or {}),
        )
        for n in listed
    ]


def missing_labels(
    config: Mapping[str, Any], found: list[Node]
) -> dict[tuple[str, str], list[str]]:
    """The labels the stack file needs that no ready node carries: ``{(k, v): services}``."""
    return {
        (key, value): users
        for (key, value), users in required_labels(config).items()
        if not any(n.ready and n.labels.get(key) == value for n in found)
    }


def check_labels(config: Mapping[str, Any], found: list[Node]) -> dict[str, str]:
    """Labels to add before deploying: on a single node, every missing one (it holds every
    volume anyway); with several, none: one sentence naming the labels and services."""
    missing = missing_labels(config, found)
    if not missing:
        return {}
    if len(found) == 1:
        return {key: value for key, value in missing}
    wanted = "; ".join(
        f"{key}={value} ({', '.join(users)})" for (key, value), users in missing.items()
    )
    raise XorbError(
        f"No ready node of the swarm carries {wanted}: label the node that holds those "
        f"services' volumes, e.g. `docker node update --label-add {next(iter(missing))[0]}="
        f"{next(iter(missing))[1]} NODE` (`inv cluster.up` labels its first node)."
    )


def add_labels(node: Node, labels: Mapping[str, str], say: Callable[[str], None]) -> None:
    """Put ``labels`` on ``node`` and say so."""
    with engine.docker_errors(f"Labelling the node {node.hostname}"):
        manager().node.update(node.id, labels_add=dict(labels))
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    say(f"labelled the single node {node.hostname} {shown} (placement of data and edge)")


def check_registry(host: str | None, default: str) -> str:
    """The registry to push to, once it answers; one sentence before anything changes."""
    chosen = inputs.registry(host or default)
    ok, detail = registry.reachable(chosen)
    if not ok:
        raise XorbError(
            f"Registry {chosen} is unreachable ({detail}); a swarm of more than one node "
            "pulls every image from it, so nothing was deployed: start it, or pass "
            "--registry HOST[:PORT]."
        )
    return chosen


def check_images(config: Mapping[str, Any]) -> list[str]:
    """Every image of the stack file, if each is in this engine's store; else one sentence."""
    refs = images_of(config)
    absent = [ref for ref in refs if not engine.image_exists(ref)]
    if absent:
        raise XorbError(
            f"Image(s) {', '.join(absent)} are not in this engine's image store, so they "
            "cannot be pushed for the swarm's nodes: build or pull them first."
        )
    return refs


def push_all(refs: list[str], host: str, say: Callable[[str], None]) -> dict[str, str]:
    """Push each image to ``host``; ``{ref: pinned ref}`` as the nodes will pull it."""
    alias = os.environ.get(REGISTRY_ALIAS_VAR) or host
    pinned = {}
    for ref in refs:
        last = ref.rsplit("/", 1)[-1]
        remote = f"{host}/{ref}" if ":" in last else f"{host}/{ref}:latest"
        digest = images.push(ref, remote)
        pinned[ref] = pinned_ref(alias, ref, digest)
    say(f"pushed {len(refs)} image(s) to {host}; the nodes pull them by digest from {alias}")
    return pinned
