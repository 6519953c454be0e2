"""The cluster's network on this host: one bridge its nodes share, the local registry made
reachable from it, and the check that test traffic only goes to the cluster (or loopback).

The bridge has the host's end at ``<prefix>.1`` and node ``i`` at ``<prefix>.<10 + i>``; it
is not NATed out (the nodes pull only from the registry). Bridged traffic passes the
host's FORWARD chain (Docker sets it to DROP), so one rule lets the bridge talk to itself.
The local registry listens on loopback only: a DNAT rule on the bridge sends
``<prefix>.1:<port>`` to it (``route_localnet`` on the bridge allows that), and the nodes
list that address as an insecure registry. Every rule carries a comment naming the bridge
(:func:`xorb_tools.core.hostnet.remove_rules`), so ``cluster.down`` finds them after a crash.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from xorb_tools.core import hostnet
from xorb_tools.core.errors import XorbError

BRIDGE = hostnet.Bridge("xorb-cl0", "10.232.0")
SUBNET = f"{BRIDGE.prefix}.0/24"


def _ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise XorbError(f"`ip {' '.join(argv)}` failed: {out.stderr.strip()}")
    return out


def _iptables(*rule: str) -> None:
    argv = ["iptables", *rule, "-m", "comment", "--comment", f"{hostnet.COMMENT} {BRIDGE.name}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise XorbError(f"`{' '.join(argv)}` failed: {out.stderr.strip()}")


def up(registry_port: int | None) -> None:
    """Create the bridge, its firewall rules and the registry forward."""
    _ip("link", "add", BRIDGE.name, "type", "bridge")
    _ip("addr", "add", f"{BRIDGE.gateway}/24", "dev", BRIDGE.name)
    _ip("link", "set", BRIDGE.name, "up")
    _iptables("-t", "filter", "-I", "FORWARD", "-i", BRIDGE.name, "-o", BRIDGE.name, "-j", "ACCEPT")
    if registry_port is not None:
        Path(f"/proc/sys/net/ipv4/conf/{BRIDGE.name}/route_localnet").write_text("1\n")
        _iptables(
            "-t", "nat", "-I", "PREROUTING", "-i", BRIDGE.name, "-d", BRIDGE.gateway,
            "-p", "tcp", "--dport", str(registry_port),
            "-j", "DNAT", "--to-destination", f"127.0.0.1:{registry_port}",
        )  # fmt: skip


def down() -> None:
    """Remove the bridge and its rules (whatever of them exists)."""
    hostnet.remove_rules(BRIDGE.name)
    _ip("link", "delete", BRIDGE.name, check=False)


def leftovers() -> list[str]:
    """What of the network still exists (empty after :func:`down`)."""
    found = []
    if _ip("link", "show", BRIDGE.name, check=False).returncode == 0:
        found.append(f"bridge {BRIDGE.name}")
    rules = subprocess.run(
        ["iptables-save"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    found += [f"rule {r}" for r in rules if f"{hostnet.COMMENT} {BRIDGE.name}" in r]
    return found


def namespace_addresses(netns: str) -> set[str]:
    """The IPv4 addresses on the interfaces inside ``netns`` (asked of the kernel)."""
    out = _ip("-n", netns, "-o", "-4", "addr", "show", check=False)
    return {line.split()[3].split("/")[0] for line in out.stdout.splitlines() if " inet " in line}


def check_target(url: str, allowed: set[str]) -> str:
    """``url`` if its host is loopback or one of ``allowed`` (addresses inside the cluster's
    namespaces); otherwise refuse in one sentence before any traffic is sent."""
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and (address.is_loopback or str(address) in allowed):
        return url
    raise XorbError(
        f"Refusing to send traffic to {host or url!r}: load and fault tests only target "
        f"loopback or the cluster's own addresses ({', '.join(sorted(allowed)) or 'none'})."
    )
