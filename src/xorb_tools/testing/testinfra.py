"""Throwaway PostgreSQL (+pgvector), Redis and Temporal containers for tests.

:func:`start` runs the three on a private user-defined network (names unique per run, so
parallel runs do not collide), publishes each port on a random free port of 127.0.0.1,
waits (bounded) until every one is healthy and returns a :class:`TestInfra` with the URLs to
reach them from the host and, for a test container on the same network, from inside it.
:meth:`TestInfra.stop` removes the containers and the network, also after a failed start::

    with testinfra.start() as infra:
        engine = sqlalchemy.create_engine(infra.database_url)

Images come from :func:`xorb_tools.rootfs.infra.resolve`: the official ones when they can be had,
else the air-gapped ones of ``inv infra-images``. Data lives on tmpfs with fsync off: fast,
and gone with the container."""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from python_on_whales.exceptions import DockerException

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.rootfs import infra

if TYPE_CHECKING:
    from python_on_whales import Container, DockerClient
from xorb_tools.testing.infra_services import (
    DB_NAME,
    DB_USER,
    POSTGRES_PORT,
    REDIS_PORT,
    TEMPORAL_PORT,
    InfraService,
    infra_services_for,
)

LABEL_RUN = "io.xorb.testinfra.run"
LABEL_PREFIX = "io.xorb.testinfra.prefix"
DEFAULT_TIMEOUT = 90.0


@dataclass
class TestInfra:
    """Running test infrastructure; ``stop()`` (or leaving the ``with`` block) removes it."""

    __test__ = False  # not a pytest test class

    run_id: str
    network: str
    containers: list[str]
    images: dict[str, str]
    database_url: str
    """SQLAlchemy URL from the host: ``postgresql+psycopg://user:pass@127.0.0.1:PORT/db``."""
    database_url_internal: str
    """The same from a container on :attr:`network` (host ``postgres``, port 5432)."""
    redis_url: str
    redis_url_internal: str
    temporal_host: str
    """``127.0.0.1:PORT`` for ``temporalio.client.Client.connect``."""
    temporal_host_internal: str
    postgres_password: str = field(repr=False, default="")
    """Also Redis's password (``requirepass``)."""
    startup_seconds: float = 0.0
    _client: DockerClient | None = field(default=None, repr=False)

    def env(self, *, internal: bool = False) -> dict[str, str]:
        """The variables the services' settings read (``DATABASE_URL``, ``REDIS_URL``,
        ``TEMPORAL_HOST``), for the host or (``internal``) a container on :attr:`network`."""
        return {
            "DATABASE_URL": self.database_url_internal if internal else self.database_url,
            "REDIS_URL": self.redis_url_internal if internal else self.redis_url,
            "TEMPORAL_HOST": self.temporal_host_internal if internal else self.temporal_host,
        }

    def stop(self) -> None:
        """Remove the containers and the network; safe to call twice."""
        _remove(self._client or engine.client(), self.containers, self.network)
        self.containers = []

    def __enter__(self) -> TestInfra:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _remove(client: DockerClient, containers: Iterable[str], network: str | None) -> None:
    names = list(containers)
    if names:
        with contextlib.suppress(DockerException):
            client.container.remove(names, force=True, volumes=True)
    if network:
        with contextlib.suppress(DockerException):
            client.network.remove(network)


def _run(
    client: DockerClient, svc: InfraService, name: str, run_id: str, prefix: str, network: str
) -> Container:
    return client.container.run(
        svc.image,
        svc.command,
        name=name,
        hostname=svc.name,
        detach=True,
        networks=[network],
        network_aliases=[svc.name],
        publish=[(f"127.0.0.1::{svc.port}",)],
        envs=svc.envs,
        tmpfs=svc.tmpfs,
        labels={LABEL_RUN: run_id, LABEL_PREFIX: prefix},
        health_cmd=svc.health_cmd,
        health_interval=1 if svc.health_cmd else None,
        health_retries=120 if svc.health_cmd else None,
        pull="never",
    )


def _host_port(client: DockerClient, name: str, port: int) -> int:
    ports: dict[str, Any] = dict(client.container.inspect(name).network_settings.ports or {})
    for binding in ports.get(f"{port}/tcp") or []:
        # python-on-whales hands these over as the engine's raw dicts.
        raw = binding if isinstance(binding, dict) else vars(binding)
        host_ip = raw.get("HostIp", raw.get("host_ip"))
        host_port = raw.get("HostPort", raw.get("host_port"))
        if host_ip in ("127.0.0.1", None, "") and host_port:
            return int(host_port)
    raise XorbError(f"Container {name} publishes no host port for {port}/tcp.")


def _wait_healthy(client: DockerClient, names: list[str], deadline: float) -> None:
    pending = list(names)
    while pending:
        for name in list(pending):
            state = client.container.inspect(name).state
            health = state.health.status if state.health else None
            if state.status in ("exited", "dead") or health == "unhealthy":
                logs = _logs(client, name)
                raise XorbError(
                    f"Test container {name} is {health or state.status}"
                    f" (exit code {state.exit_code}); its last log lines:\n{logs}"
                )
            if health == "healthy" or (health is None and state.running):
                pending.remove(name)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise XorbError(
                f"Test containers {', '.join(pending)} were not healthy in time; "
                f"their last log lines:\n"
                + "\n".join(f"[{n}] {_logs(client, n, 5)}" for n in pending)
            )
        time.sleep(0.2)


def _wait_tcp(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise XorbError(f"Nothing answers on 127.0.0.1:{port} in time.") from None
            time.sleep(0.1)


def _logs(client: DockerClient, name: str, lines: int = 15) -> str:
    try:
        return str(client.container.logs(name, tail=lines)).strip()
    except DockerException:
        return "(no logs)"


def start(
    prefix: str = "xorb-test",
    *,
    timeout: float = DEFAULT_TIMEOUT,
    images: dict[str, str] | None = None,
    pull: bool = True,
) -> TestInfra:
    """Start PostgreSQL (+pgvector), Redis and Temporal for one test run.

    Parameters:
        prefix: start of every container and network name (``<prefix>-<run id>-<service>``).
        timeout: seconds to wait for all three to become healthy before giving up.
        images: image per service (``postgres``, ``redis``, ``temporal``) instead of
            :func:`xorb_tools.rootfs.infra.resolve`'s choice.
        pull: whether :func:`~xorb_tools.rootfs.infra.resolve` may try to pull the official images.
    """
    engine.require_daemon()
    client = engine.client()
    started = time.monotonic()
    chosen = dict(images or {})
    for name in ("postgres", "redis", "temporal"):
        if name not in chosen:
            chosen[name] = infra.resolve(name, client=client, pull=pull)
    run_id = uuid.uuid4().hex[:10]
    network = f"{prefix}-{run_id}"
    password = secrets.token_urlsafe(18)
    containers: list[str] = []
    try:
        with engine.docker_errors(f"Creating the test network {network}"):
            client.network.create(network, labels={LABEL_RUN: run_id, LABEL_PREFIX: prefix})
        services = infra_services_for(chosen, password)
        for svc in services:
            name = f"{prefix}-{run_id}-{svc.name}"
            containers.append(name)  # before run: a half-created container is removed too
            with engine.docker_errors(f"Starting the test {svc.name} ({svc.image})"):
                _run(client, svc, name, run_id, prefix, network)
        deadline = started + timeout
        _wait_healthy(client, containers, deadline)
        ports = {
            svc.name: _host_port(client, name, svc.port)
            for svc, name in zip(services, containers, strict=True)
        }
        for port in ports.values():
            _wait_tcp(port, deadline)
    except BaseException:
        _remove(client, containers, network)
        raise
    db = f"{DB_USER}:{password}@{{}}/{DB_NAME}"
    return TestInfra(
        run_id=run_id,
        network=network,
        containers=containers,
        images=chosen,
        database_url="postgresql+psycopg://" + db.format(f"127.0.0.1:{ports['postgres']}"),
        database_url_internal="postgresql+psycopg://" + db.format(f"postgres:{POSTGRES_PORT}"),
        redis_url=f"redis://:{password}@127.0.0.1:{ports['redis']}/0",
        redis_url_internal=f"redis://:{password}@redis:{REDIS_PORT}/0",
        temporal_host=f"127.0.0.1:{ports['temporal']}",
        temporal_host_internal=f"temporal:{TEMPORAL_PORT}",
        postgres_password=password,
        startup_seconds=time.monotonic() - started,
        _client=client,
    )


def sweep(prefix: str = "xorb-test") -> int:
    """Remove containers and networks left by crashed runs with ``prefix``; returns a count."""
    client = engine.client()
    label = f"{LABEL_PREFIX}={prefix}"
    stale = client.container.list(all=True, filters=[("label", label)])
    networks = client.network.list(filters=[("label", label)])
    _remove(client, [c.name for c in stale], None)
    for net in networks:
        with contextlib.suppress(DockerException):
            client.network.remove(net.name)
    return len(stale) + len(networks)
