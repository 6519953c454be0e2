"""Integration fixtures: real PostgreSQL, Redis and Temporal, and the orchestrator in front of
Temporal (the API reaches workflows only through the orchestrator's HTTP API).

Servers come from ``XORB_TEST_DATABASE_URL``, ``XORB_TEST_REDIS_URL`` and
``XORB_TEST_TEMPORAL_HOST``; when they are unset, ``xorb_tools.testing.testinfra.start()`` starts
them (imported only then). Services run as real subprocesses (``python -m worker`` ...)
whose output goes to log files that :mod:`test_logs` (last) scans for secret values.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from common.config_manager import build_config, reset_config_cache
from common.health import HealthServer
from common.settings import XorbConfig
from xorb_tools.core.poll import wait_for

JWT_SECRET = "integration-jwt-secret-" + uuid.uuid4().hex
RUN_ID = uuid.uuid4().hex[:8]
LOG_DIR = Path(os.environ.get("XORB_TEST_LOG_DIR", f"/tmp/xorb-integration-{RUN_ID}"))


@dataclass
class Infra:
    database_url: str
    redis_url: str
    temporal_host: str
    secrets: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    urls = [
        os.environ.get(n)
        for n in ("XORB_TEST_DATABASE_URL", "XORB_TEST_REDIS_URL", "XORB_TEST_TEMPORAL_HOST")
    ]
    started: Any = None
    if all(urls):
        database_url, redis_url, temporal_host = (str(u) for u in urls)
    else:
        from xorb_tools.testing import testinfra  # written alongside; only needed without env vars

        started = testinfra.start()
        database_url, redis_url, temporal_host = (
            started.database_url,
            started.redis_url,
            started.temporal_host,
        )
    secrets = [JWT_SECRET]
    for url in (database_url, redis_url):
        password = make_url(url).password
        if password:
            secrets.append(str(password))
    try:
        yield Infra(database_url, redis_url, temporal_host, secrets)
    finally:
        if started is not None:
            started.stop()


@pytest.fixture(scope="session")
def service_env(infra: Infra) -> dict[str, str]:
    """Environment for service subprocesses and in-process configs (isolated queue names)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        XORB_ENV="test",
        XORB_SECRETS_DIR=str(LOG_DIR / "no-secrets"),
        DATABASE_URL=infra.database_url,
        REDIS_URL=infra.redis_url,
        TEMPORAL_HOST=infra.temporal_host,
        TEMPORAL_TASK_QUEUE=f"xorb-it-{RUN_ID}",
        WORKER_QUEUE=f"xorb-it-{RUN_ID}",
        WORKER_HEALTH_PORT="0",
        ORCHESTRATOR_HEALTH_PORT="0",
        JWT_SECRET=JWT_SECRET,
        PYTHONPYCACHEPREFIX=str(Path(os.environ.get("TMPDIR", "/tmp")) / "xorb-pycache"),
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    reset_config_cache()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_config_cache()


def make_config(service_env: Mapping[str, str], **overrides: str) -> XorbConfig:
    with patched_environ({**service_env, **overrides}):
        return build_config("test")


@pytest.fixture(scope="session")
def migrated(service_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "common.db", "migrate"],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (LOG_DIR / "migrate.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="session")
def config(service_env: dict[str, str], migrated: None) -> XorbConfig:
    return make_config(service_env)


class Service:
    """A service subprocess in its own process group, logging to LOG_DIR/<name>-<n>.log."""

    counter = 0

    def __init__(self, module: str, env: Mapping[str, str], args: list[str] | None = None) -> None:
        Service.counter += 1
        self.log_path = LOG_DIR / f"{module}-{Service.counter}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *(args or [])],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_group()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group
        self._log.close()
        return int(self.proc.returncode)


@pytest.fixture
def spawn(service_env: dict[str, str], migrated: None) -> Iterator[Callable[..., Service]]:
    services: list[Service] = []

    def start(module: str, args: list[str] | None = None, **env: str) -> Service:
        service = Service(module, {**service_env, **env}, args)
        services.append(service)
        return service

    try:
        yield start
    finally:
        for service in services:
            service.stop(timeout=10)


def worker_health_port(service: Service, timeout: float = 60) -> int:
    """The worker/orchestrator log their health port (configured as 0 = any free port)."""
    import json

    port: list[int] = []

    def found() -> bool:
        for line in service.output().splitlines():
            if line.startswith("{") and '"health_port"' in line:
                port.append(int(json.loads(line)["health_port"]))
                return True
        assert service.proc.poll() is None, service.output()[-2000:]
        return False

    wait_for(found, timeout, f"{service.log_path.name} to start")
    return port[0]


def get_json(client: httpx.Client, url: str) -> Any:
    response = client.get(url)
    response.raise_for_status()
    return response.json()


def start_orchestrator(
    spawn: Callable[..., Service], dependency_url: str, **env: str
) -> tuple[Service, str]:
    """Spawn ``python -m orchestrator``; return it and its HTTP API URL once it is ready."""
    service = spawn("orchestrator", ORCHESTRATOR_DEPENDENCY_URL=dependency_url, **env)
    url = f"http://127.0.0.1:{worker_health_port(service)}"
    wait_for(lambda: httpx.get(f"{url}/ready", timeout=2).status_code == 200, 30, "orchestrator")
    return service, url


@pytest.fixture(scope="session")
def orchestrator_url(service_env: dict[str, str], migrated: None) -> Iterator[str]:
    """One orchestrator for the whole run (the API's workflows and readiness need it)."""
    dependency = HealthServer(0, host="127.0.0.1").start()  # the "external" HTTP dependency
    services: list[Service] = []

    def spawn(module: str, **env: str) -> Service:
        services.append(Service(module, {**service_env, **env}))
        return services[-1]

    try:
        yield start_orchestrator(spawn, f"http://127.0.0.1:{dependency.port}/health")[1]
    finally:
        for service in services:
            service.stop(timeout=15)
        dependency.stop()


@pytest.fixture(scope="session")
def api_config(service_env: dict[str, str], migrated: None, orchestrator_url: str) -> XorbConfig:
    """The API's configuration: pointed at the session's orchestrator."""
    return make_config(service_env, ORCHESTRATOR_URL=orchestrator_url)


class TcpProxy:
    """Forward 127.0.0.1:<port> to ``target``; :meth:`cut` drops every connection and stops
    listening, so a client behind it sees its server vanish (as when Temporal goes down);
    :meth:`restore` listens on the same port again (the server is back)."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listen(0)

    def _listen(self, port: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", port))  # SO_REUSEADDR on POSIX
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def restore(self) -> None:
        """Accept connections again, on the address clients already have."""
        self._listen(int(self.address.rsplit(":", 1)[1]))

    @property
    def address(self) -> str:
        if self._closed:
            return f"127.0.0.1:{self._port}"
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        listener = self._listener
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)  # idle pooled connections stay open, as direct ones
            except OSError:
                return
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        self._port = self._listener.getsockname()[1]
        with self._lock:
            self._closed = True
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            self._listener.close()
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
