"""The air-gapped infrastructure images, for real: built (or reused) with mmdebstrap and
buildx, started by ``xorb_tools.testing.testinfra`` and used through the real client libraries.

Needs a Docker engine and root (mmdebstrap) the first time; later runs reuse the images.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import psycopg
import pytest
import redis
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from xorb_tools.core import engine
from xorb_tools.rootfs import infra
from xorb_tools.testing import testinfra

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]

CORE = ("postgres", "redis", "temporal")


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """Build (or reuse) the three images testinfra needs; fails when a build fails."""
    engine.require_daemon()
    return {r.ref.split("/infra-")[1].split(":")[0]: r.ref for r in infra.build_all(CORE)}


@pytest.fixture(scope="module")
def stack(images: dict[str, str]) -> Iterator[testinfra.TestInfra]:
    # The air-gapped images explicitly: this module tests them, not whatever resolve() picks.
    with testinfra.start("xorb-infra-test", images=images) as running:
        yield running


def _labels(ref: str) -> dict[str, str]:
    return dict(engine.client().image.inspect(ref).config.labels or {})


@pytest.mark.parametrize("name", CORE)
def test_image_is_labelled_non_root_and_has_a_healthcheck(
    images: dict[str, str], name: str
) -> None:
    image = engine.client().image.inspect(images[name])
    assert image.config.user and image.config.user.split(":")[0] not in ("", "0", "root")
    assert image.config.healthcheck is not None and image.config.healthcheck.test
    labels = _labels(images[name])
    assert labels[infra.LABEL_OFFICIAL] == infra.get(name).official
    assert labels[infra.LABEL_INPUTS].startswith("sha256:")


def test_second_build_reuses_the_images(images: dict[str, str]) -> None:
    started = time.monotonic()
    results = infra.build_all(CORE)
    assert [r.built for r in results] == [False, False, False]
    assert time.monotonic() - started < 10


def test_stack_starts_fast_and_publishes_on_loopback(stack: testinfra.TestInfra) -> None:
    assert stack.startup_seconds < 60, stack.startup_seconds
    for port in (
        int(stack.database_url.rsplit(":", 1)[1].split("/")[0]),
        int(stack.redis_url.rsplit(":", 1)[1].split("/")[0]),
        int(stack.temporal_host.rsplit(":", 1)[1]),
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    network = engine.client().network.inspect(stack.network)
    assert len(network.containers) == 3


def test_postgres_with_pgvector(stack: testinfra.TestInfra) -> None:
    dsn = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, embedding vector(3))")
        conn.execute("INSERT INTO items (embedding) VALUES ('[1,2,3]'), ('[3,2,1]')")
        row = conn.execute(
            "SELECT id FROM items ORDER BY embedding <-> '[1,2,4]' LIMIT 1"
        ).fetchone()
        assert row == (1,)
        version = conn.execute("SHOW server_version").fetchone()
        assert version is not None and str(version[0]).startswith("17.")


def test_postgres_rejects_a_wrong_password(stack: testinfra.TestInfra) -> None:
    dsn = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    wrong = dsn.replace(stack.postgres_password, "wrong-password")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(wrong, connect_timeout=5).close()


def test_redis_ping_and_round_trip(stack: testinfra.TestInfra) -> None:
    client = redis.Redis.from_url(stack.redis_url, socket_timeout=5)
    try:
        assert client.ping() is True
        client.set("xorb:test", "ok")
        assert client.get("xorb:test") == b"ok"
    finally:
        client.close()


def test_temporal_accepts_clients(stack: testinfra.TestInfra) -> None:
    async def check() -> str:
        client = await Client.connect(stack.temporal_host, namespace="default")
        assert await client.service_client.check_health()
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        return str(info.server_version)

    assert asyncio.run(asyncio.wait_for(check(), 30))


def test_stop_removes_everything(images: dict[str, str]) -> None:
    running = testinfra.start("xorb-infra-stop", images=images)
    names, network = list(running.containers), running.network
    running.stop()
    running.stop()  # idempotent
    client = engine.client()
    assert not any(client.container.exists(n) for n in names)
    assert not client.network.exists(network)


def test_a_failed_start_leaves_nothing_behind(images: dict[str, str]) -> None:
    broken = {**images, "redis": images["postgres"]}  # postgres has no redis-server command
    client = engine.client()
    before = {c.name for c in client.container.list(all=True)}
    # Which failure surfaces first (redis exiting, or a timeout on a loaded host) varies;
    # what matters is that nothing is left behind.
    with pytest.raises(Exception):  # noqa: B017
        testinfra.start("xorb-infra-broken", images=broken, timeout=30)
    after = {c.name for c in client.container.list(all=True)}
    assert not {n for n in after - before if n.startswith("xorb-infra-broken")}
    leftover = client.network.list(
        filters=[("label", f"{testinfra.LABEL_PREFIX}=xorb-infra-broken")]
    )
    assert leftover == []
