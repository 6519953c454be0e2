"""Extra Docker engines on this host, each in a network namespace of its own.

An :class:`Engine` is a real ``dockerd`` (Debian's, the one ``scripts/install-docker.sh``
installs) with its own data root, exec root, socket and configuration, started inside a
network namespace joined to the host by a veth pair on ``10.231.<index>.0/30``. The host
side NATs it out, so its builds reach the package index as the host's do; nothing else is
published. Used to test against an engine configured like GitHub's runners (the classic
image store) without touching the host's engine.

Why a namespace: a second dockerd in the host's namespace shares the host's bridges and
firewall chains, and one started with ``--bridge=none`` deletes the host engine's
``docker0`` (seen here). Inside its own namespace it has its own ``docker0`` and iptables.
Needs root, ``ip``, ``iptables`` and ``nsenter``; everything :meth:`Engine.up` creates,
:meth:`Engine.down` removes, also after a failed start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from xorb_tools.core.errors import XorbError
from xorb_tools.core.hostnet import COMMENT, Bridge, processes_in, remove_rules
from xorb_tools.core.hostnet import run as _sh

SUBNET = "10.231.{index}.{host}"


@dataclass
class Engine:
    """One extra engine: ``name`` (<= 8 characters: interface names are short), the
    namespace's subnet ``index`` (1-254) and the folder holding its state."""

    name: str
    index: int
    root: Path
    containerd_store: bool = False
    bridge: Bridge | None = None
    """Join this bridge instead of a private link to the host with NAT."""
    settings: dict[str, object] = field(default_factory=dict)
    """More ``daemon.json`` settings (e.g. ``insecure-registries``)."""
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _rules: list[list[str]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if len(self.name) > 8 or not self.name.replace("-", "").isalnum():
            raise XorbError(f"Engine name {self.name!r}: up to 8 letters, digits or dashes.")
        if not 1 <= self.index <= 254:
            raise XorbError(f"Engine index {self.index} is outside 1-254.")

    @property
    def netns(self) -> str:
        """The network namespace's name."""
        return f"xorb-{self.name}"

    @property
    def host_address(self) -> str:
        """The host's end of the veth pair (the bridge's, on a bridge)."""
        if self.bridge:
            return self.bridge.gateway
        return SUBNET.format(index=self.index, host=1)

    @property
    def address(self) -> str:
        """The engine's address (inside its namespace)."""
        if self.bridge:
            return self.bridge.address(self.index)
        return SUBNET.format(index=self.index, host=2)

    @property
    def docker_host(self) -> str:
        """``DOCKER_HOST`` for this engine."""
        return f"unix://{self.root / 'docker.sock'}"

    def client(self) -> DockerClient:
        """A python-on-whales client for this engine."""
        return DockerClient(host=self.docker_host)

    # ------------------------------------------------------------------ lifecycle

    def up(self, timeout: float = 60) -> Engine:
        """Create the namespace and start the engine; on any failure, remove it all."""
        if shutil.which("nsenter") is None or shutil.which("ip") is None:
            raise XorbError("An extra engine needs `ip` and `nsenter` (iproute2, util-linux).")
        try:
            self._network_up()
            self.start(timeout)
        except BaseException:
            self.down()
            raise
        return self

    def start(self, timeout: float = 60) -> None:
        """Start dockerd in the namespace (classic or containerd image store)."""
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "daemon.json"
        features = {"containerd-snapshotter": self.containerd_store}
        config.write_text(json.dumps({"features": features, **self.settings}) + "\n")
        log = (self.root / "dockerd.log").open("ab")
        # On a bridge (a cluster) each engine also gets its own hostname: swarm names
        # nodes by it. `unshare` and `sh -c exec` keep the PID dockerd's.
        named = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.name]
        argv = [
            "nsenter", f"--net=/run/netns/{self.netns}", *(named if self.bridge else []), "dockerd",
            "--config-file", str(config),
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "dockerd.pid"),
            "--host", self.docker_host,
        ]  # fmt: skip
        # its own session: it outlives the task that started it, and ^C there stops nothing
        self._proc = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise XorbError(f"dockerd {self.name} exited on start: see {log.name}.")
            try:
                self.client().version()
                return
            except DockerException:
                time.sleep(0.2)
        raise XorbError(f"dockerd {self.name} did not answer in {timeout:.0f} s: see {log.name}.")

    def stop(self, timeout: float = 30) -> None:
        """Stop dockerd (SIGTERM, then SIGKILL after ``timeout``), also one another process
        started (found by its pid file)."""
        if self._proc is None:
            self._stop_by_pidfile(timeout)
            return
        if self._proc.poll() is not None:
            self._proc = None
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None

    def _stop_by_pidfile(self, timeout: float) -> None:
        try:
            pid = int((self.root / "dockerd.pid").read_text().strip())
        except (OSError, ValueError):
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.2)

    def kill(self) -> int:
        """Crash the engine as a power cut would: SIGKILL dockerd, containerd and every
        container it runs (their network namespaces are listed under its exec root), and
        leave the namespace and its link up. Returns how many processes were killed."""
        pids = set(_sh("ip", "netns", "pids", self.netns, check=False).stdout.split())
        pids |= processes_in(self.root / "exec" / "netns")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        self._proc = None
        return len(pids)

    def _unmount(self) -> None:
        """Lazily unmount whatever a killed engine left mounted under its folder."""
        prefix = f"{self.root}/"
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for target in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
            _sh("umount", "-l", target, check=False)

    def restart(self, *, containerd_store: bool) -> float:
        """Restart on the given image store; returns the seconds it took."""
        started = time.monotonic()
        self.stop()
        self.containerd_store = containerd_store
        self.start()
        return time.monotonic() - started

    def down(self, *, graceful: bool = True) -> None:
        """Stop the engine (at once with ``graceful=False``: its data is thrown away) and
        remove the namespace, interfaces, firewall rules, mounts and state."""
        if graceful:
            self.stop()
        else:
            self._proc = None
        self.kill()
        self._unmount()
        for rule in reversed(self._rules):
            _sh("iptables", *rule[:2], "-D", *rule[3:], check=False)
        self._rules.clear()
        if self.bridge is None:
            remove_rules(f"{SUBNET.format(index=self.index, host=0)}/30")
        # Processes still inside (a shim) keep the namespace: kill them before deleting it.
        pids = _sh("ip", "netns", "pids", self.netns, check=False).stdout.split()
        for pid in pids:
            _sh("kill", "-9", pid, check=False)
        _sh("ip", "netns", "delete", self.netns, check=False)
        _sh("ip", "link", "delete", f"{self.netns}-h", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """What of this engine still exists (empty after :meth:`down`)."""
        found = []
        if _sh("ip", "netns", "pids", self.netns, check=False).returncode == 0:
            found.append(f"network namespace {self.netns}")
        if _sh("ip", "link", "show", f"{self.netns}-h", check=False).returncode == 0:
            found.append(f"interface {self.netns}-h")
        nat = _sh("iptables", "-t", "nat", "-S", "POSTROUTING", check=False).stdout
        if f"{SUBNET.format(index=self.index, host=0)}/30" in nat:
            found.append("NAT rule")
        if self.root.exists():
            found.append(f"folder {self.root}")
        return found

    def _network_up(self) -> None:
        ns, host_if, ns_if = self.netns, f"{self.netns}-h", f"{self.netns}-n"
        _sh("ip", "netns", "add", ns)
        _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _sh("ip", "link", "set", ns_if, "netns", ns)
        if self.bridge:
            _sh("ip", "link", "set", host_if, "master", self.bridge.name, "up")
            _sh("ip", "-n", ns, "addr", "add", f"{self.address}/24", "dev", ns_if)
            _sh("ip", "-n", ns, "link", "set", ns_if, "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            _sh("ip", "-n", ns, "route", "add", "default", "via", self.host_address)
            return
        _sh("ip", "addr", "add", f"{self.host_address}/30", "dev", host_if)
        _sh("ip", "link", "set", host_if, "up")
        _sh("ip", "-n", ns, "addr", "add", f"{self.address}/30", "dev", ns_if)
        _sh("ip", "-n", ns, "link", "set", ns_if, "up")
        _sh("ip", "-n", ns, "link", "set", "lo", "up")
        _sh("ip", "-n", ns, "route", "add", "default", "via", self.host_address)
        subnet = f"{SUBNET.format(index=self.index, host=0)}/30"
        # The host engine's FORWARD policy is DROP: let this namespace's traffic through.
        for rule in (
            ["-t", "nat", "-A", "POSTROUTING", "-s", subnet, "-j", "MASQUERADE"],
            ["-t", "filter", "-I", "FORWARD", "-i", host_if, "-j", "ACCEPT"],
            ["-t", "filter", "-I", "FORWARD", "-o", host_if, "-m", "conntrack",
             "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        ):  # fmt: skip
            rule += ["-m", "comment", "--comment", f"{COMMENT} {subnet}"]
            _sh("iptables", *rule)
            self._rules.append(rule)
