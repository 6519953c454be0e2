"""The host's network plumbing for extra engines: commands, firewall rules found again by
their comment, a shared bridge, and the processes inside a network namespace."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from xorb_tools.core.errors import XorbError


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a host command (ip, iptables...); one sentence when it fails and ``check``."""
    out = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise XorbError(f"`{' '.join(argv)}` failed: {out.stderr.strip() or out.returncode}")
    return out


COMMENT = "xorb-engines"
"""Every firewall rule made here carries this comment, so a later run can find and remove
the rules of one that crashed."""


@dataclass(frozen=True)
class Bridge:
    """A host bridge several engines share (a cluster): ``<prefix>.1`` is the host's end,
    engine ``i`` gets ``<prefix>.<10 + i>``; no NAT, the engines reach only each other and
    the host."""

    name: str
    prefix: str

    @property
    def gateway(self) -> str:
        return f"{self.prefix}.1"

    def address(self, index: int) -> str:
        return f"{self.prefix}.{10 + index}"


def remove_rules(tag: str) -> int:
    """Delete every firewall rule (filter and nat) whose comment names ``tag``; a count."""
    removed = 0
    for table in ("filter", "nat"):
        listed = run("iptables", "-t", table, "-S", check=False).stdout.splitlines()
        for line in listed:
            if f"{COMMENT} {tag}" not in line or not line.startswith("-A "):
                continue
            args = shlex.split(line)
            if run("iptables", "-t", table, "-D", *args[1:], check=False).returncode == 0:
                removed += 1
    return removed


def processes_in(netns_dir: Path) -> set[str]:
    """PIDs of the processes whose network namespace is one of the files in ``netns_dir``
    (a dockerd's container namespaces live under its exec root)."""
    if not netns_dir.exists():
        return set()
    inodes = {f"net:[{p.stat().st_ino}]" for p in netns_dir.glob("*")}
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "ns" / "net").readlink().name in inodes:
                found.add(proc.name)
        except OSError:
            continue
    return found
