"""The cluster's nodes: real ``dockerd`` engines, each in a network namespace of its own on
the cluster bridge, joined into one swarm (node 1 the manager, holding the data and edge
labels). Its state is a small JSON file beside the engines' folders; everything
:func:`up` makes, :func:`down` removes, also after a crash (names are fixed, rules carry a
comment)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from python_on_whales import DockerClient

from xorb_tools.core import engine, engines, hostnet, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy.cluster import network
from xorb_tools.deploy.swarm.placement import DATA_LABEL, EDGE_LABEL

ROOT_VAR = "XORB_CLUSTER_DIR"
MAX_NODES = 9
HEARTBEAT = timedelta(seconds=2)
"""Swarm's dispatcher heartbeat: a lost node is noticed in a few of these."""
Say = Callable[[str], None]


def root() -> Path:
    """Where the nodes' data roots and the state file live (``XORB_CLUSTER_DIR``)."""
    path = Path(os.environ.get(ROOT_VAR) or "/var/lib/xorb/cluster")
    if not path.is_absolute() or (path.exists() and not path.is_dir()):
        raise XorbError(
            f"{ROOT_VAR}={path} is not a folder: point it at one (an absolute path; "
            "default /var/lib/xorb/cluster)."
        )
    return path


@dataclass(frozen=True)
class NodeInfo:
    """One node as the state file records it."""

    name: str
    index: int
    address: str
    docker_host: str
    netns: str


@dataclass(frozen=True)
class Cluster:
    """A running cluster: its nodes (the first the manager) and how the nodes reach the
    registry this engine pushes to."""

    nodes: tuple[NodeInfo, ...]
    registry: str
    registry_alias: str

    @property
    def manager(self) -> NodeInfo:
        return self.nodes[0]

    def node(self, name: str) -> NodeInfo:
        """A node by name, or one sentence naming the nodes."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise XorbError(
            f"Unknown node {name!r}: the cluster has {', '.join(n.name for n in self.nodes)}."
        )

    def environment(self) -> dict[str, str]:
        """The variables that point the swarm tasks at this cluster."""
        return {
            "XORB_SWARM_HOST": self.manager.docker_host,
            "XORB_SWARM_REGISTRY": self.registry_alias,
        }

    def addresses(self) -> set[str]:
        """Every address on an interface inside the nodes' namespaces (asked of the kernel)."""
        found: set[str] = set()
        for n in self.nodes:
            found |= network.namespace_addresses(n.netns)
        return found


def engine_of(index: int, registry_alias: str) -> engines.Engine:
    """Node ``index``'s engine (running or not)."""
    return engines.Engine(
        f"node{index}",
        index,
        root() / f"node{index}",
        bridge=network.BRIDGE,
        settings={"insecure-registries": [registry_alias]},
    )


def _state_file() -> Path:
    return root() / "cluster.json"


def load() -> Cluster | None:
    """The running cluster, or None."""
    try:
        data = json.loads(_state_file().read_text())
        return Cluster(
            tuple(NodeInfo(**n) for n in data["nodes"]), data["registry"], data["registry_alias"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def require() -> Cluster:
    """The running cluster, or one sentence saying how to start one."""
    found = load()
    if found is None:
        raise XorbError("No cluster is running here: start one with `uv run inv cluster.up`.")
    return found


def _preflight(count: int) -> None:
    if os.geteuid() != 0:
        raise XorbError(
            "A cluster needs root (it creates network namespaces, a bridge and engines): "
            "run it as root, e.g. with sudo."
        )
    for tool in ("ip", "iptables", "nsenter", "unshare", "dockerd"):
        if shutil.which(tool) is None:
            raise XorbError(f"A cluster needs `{tool}`: run `bash scripts/provision.sh` first.")
    if not 2 <= count <= MAX_NODES:
        raise XorbError(f"--nodes {count}: a cluster has 2 to {MAX_NODES} nodes.")


def up(count: int, say: Say) -> Cluster:
    """Start ``count`` engines on the bridge, make them one swarm, label the manager."""
    engine.require_daemon()  # images are built and pushed on this engine
    _preflight(count)
    root()
    if load() is not None or network.leftovers():
        raise XorbError("A cluster is already here: `uv run inv cluster.down` removes it first.")
    registry = services.load().registry
    port = int(registry.rpartition(":")[2]) if registry.startswith(("localhost:", "127.")) else None
    alias = f"{network.BRIDGE.gateway}:{port}" if port else registry
    started: list[engines.Engine] = []
    try:
        network.up(port)
        for index in range(1, count + 1):
            begun = time.monotonic()
            started.append(engine_of(index, alias).up())
            took = time.monotonic() - begun
            say(f"node{index}: engine up at {started[-1].address} ({took:.1f} s)")
        _form_swarm(started, say)
        cluster = Cluster(
            tuple(NodeInfo(e.name, e.index, e.address, e.docker_host, e.netns) for e in started),
            registry,
            alias,
        )
        _state_file().write_text(json.dumps({**asdict(cluster)}, indent=2) + "\n")
    except BaseException:
        say("cluster: start failed; removing what was made")
        down(say=lambda _: None)
        raise
    return cluster


def _form_swarm(nodes: list[engines.Engine], say: Say) -> None:
    first = nodes[0]
    manager = first.client()
    manager.swarm.init(advertise_address=first.address, listen_address=f"{first.address}:2377")
    manager.swarm.update(dispatcher_heartbeat=HEARTBEAT)
    token = manager.swarm.join_token("worker")
    for node in nodes[1:]:
        node.client().swarm.join(
            f"{first.address}:2377",
            advertise_address=node.address,
            listen_address=f"{node.address}:2377",
            token=token,
        )
    manager.node.update(first_node_id(manager), labels_add={DATA_LABEL: "true", EDGE_LABEL: "true"})
    say(
        f"swarm: {first.name} manager ({DATA_LABEL}, {EDGE_LABEL}), "
        f"{', '.join(n.name for n in nodes[1:])} workers"
    )


def first_node_id(manager: DockerClient) -> str:
    """The swarm node ID of the engine ``manager`` talks to."""
    swarm = manager.info().swarm
    if swarm is None or not swarm.node_id:
        raise XorbError("The first node did not become a swarm manager: see its dockerd.log.")
    return str(swarm.node_id)


def down(say: Say) -> list[str]:
    """Stop every node's engine and remove namespaces, bridge, rules and folders; what is
    still there afterwards (empty when all went)."""
    indexes = sorted(
        int(p.name.removeprefix("node"))
        for p in (root().glob("node*") if root().exists() else [])
        if p.name.removeprefix("node").isdigit()
    )
    listed = hostnet.run("ip", "netns", "list", check=False).stdout
    indexes += [
        int(word.removeprefix("xorb-node"))
        for word in listed.split()
        if word.startswith("xorb-node") and word.removeprefix("xorb-node").isdigit()
    ]
    for index in sorted(set(indexes)):
        node = engine_of(index, "")
        node.down(graceful=False)  # its data goes anyway: no stop timeouts
        say(f"node{index}: engine stopped, namespace removed")
    network.down()
    _state_file().unlink(missing_ok=True)
    with_root = [str(root())] if root().exists() and any(root().iterdir()) else []
    return leftovers(sorted(set(indexes))) + with_root


def leftovers(indexes: list[int] | None = None) -> list[str]:
    """Namespaces, interfaces, rules and folders of a cluster that still exist."""
    found: list[str] = network.leftovers()
    for index in indexes or range(1, MAX_NODES + 1):
        found += engine_of(index, "").leftovers()
    return found
