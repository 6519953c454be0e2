"""Graceful shutdown, killed workers and the production secret rule, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import select

from common.db import JobResult, create_db_engine, session_factory
from common.settings import XorbConfig
from xorb_tools.core.poll import wait_for

from .conftest import (
    JWT_SECRET,
    LOG_DIR,
    Service,
    free_port,
    make_config,
    worker_health_port,
)

pytestmark = pytest.mark.integration


class Jobs:
    """Enqueue like the API does and read rows straight from PostgreSQL."""

    def __init__(self, config: XorbConfig) -> None:
        from api.services import RqJobGateway

        self.redis = Redis.from_url(config.redis.get_url())
        self.queue = Queue(config.worker.queue, connection=self.redis)
        self.engine = create_db_engine(config.database)
        self.sessions = session_factory(self.engine)
        self.gateway = RqJobGateway(config, self.redis, self.sessions)

    def enqueue(self, duration: float, text: str = "some words here") -> str:
        job_id = os.urandom(8).hex()
        self.gateway.enqueue(job_id, {"text": text, "duration": duration, "fail_times": 0})
        return job_id

    def row(self, job_id: str) -> JobResult | None:
        with self.sessions() as session:
            return session.execute(
                select(JobResult).where(JobResult.job_id == job_id)
            ).scalar_one_or_none()

    def status(self, job_id: str) -> str | None:
        row = self.row(job_id)
        return row.status if row else None

    def close(self) -> None:
        self.redis.close()
        self.engine.dispose()


@pytest.fixture
def jobs(service_env: dict[str, str], migrated: None) -> Iterator[Jobs]:
    """Jobs on a queue of this test's own: jobs other tests left behind (schemathesis posts
    many, some up to 30 s long) never run ahead of this test's job on its worker."""
    queue = f"{service_env['WORKER_QUEUE']}-{uuid.uuid4().hex[:8]}"
    helper = Jobs(make_config(service_env, WORKER_QUEUE=queue))
    yield helper
    helper.close()


@pytest.mark.timeout(120)
def test_sigterm_during_a_slow_request_lets_it_finish(spawn: Callable[..., Service]) -> None:
    port = free_port()
    api = spawn("api", API_PORT=str(port), WORKERS="1", GRACEFUL_TIMEOUT="20", XORB_ENV="test")
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{base}/health", timeout=1).status_code == 200, 90, "gunicorn")
    result: dict[str, httpx.Response] = {}

    def slow() -> None:
        result["response"] = httpx.get(f"{base}/debug/sleep", params={"seconds": 3}, timeout=30)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(1.0)
    api.signal(signal.SIGTERM)
    thread.join(timeout=30)
    assert result["response"].status_code == 200
    assert result["response"].json() == {"slept": 3.0}
    assert api.proc.wait(timeout=30) == 0


@pytest.mark.timeout(120)
def test_sigterm_during_a_job_lets_it_complete(spawn: Callable[..., Service], jobs: Jobs) -> None:
    worker = spawn("worker", WORKER_QUEUE=jobs.queue.name, WORKER_CONCURRENCY="1")
    worker_health_port(worker)
    job_id = jobs.enqueue(duration=3)
    wait_for(lambda: jobs.status(job_id) == "started", 30, "the job to start")
    worker.signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=60) == 0
    row = jobs.row(job_id)
    assert row is not None
    assert (row.status, row.attempts) == ("finished", 1)


@pytest.mark.timeout(120)
def test_killed_service_job_runs_again_after_restart(
    spawn: Callable[..., Service], jobs: Jobs
) -> None:
    first = spawn("worker", WORKER_QUEUE=jobs.queue.name, WORKER_CONCURRENCY="1")
    worker_health_port(first)
    job_id = jobs.enqueue(duration=2)
    wait_for(lambda: jobs.status(job_id) == "started", 30, "the job to start")
    first.kill_group()  # like `docker kill`: supervisor and workers at once
    worker_health_port(spawn("worker", WORKER_QUEUE=jobs.queue.name, WORKER_CONCURRENCY="1"))
    wait_for(lambda: jobs.status(job_id) == "finished", 60, "the recovered job")
    row = jobs.row(job_id)
    assert row is not None
    assert row.attempts == 2


def _busy_worker(jobs: Jobs, own_pids: set[int]) -> tuple[int, str] | None:
    """A live worker process of ours that is running a job it has already recorded."""
    for worker in Worker.all(queue=jobs.queue):
        job_id = worker.get_current_job_id()
        if not job_id or worker.pid not in own_pids:
            continue
        row = jobs.row(job_id)
        if row is not None and row.status == "started" and row.worker == worker.name:
            return worker.pid, job_id
    return None


def _children(pid: int) -> set[int]:
    import psutil

    return {
        child.pid
        for child in psutil.Process(pid).children()
        if child.status() != psutil.STATUS_ZOMBIE
    }


@pytest.mark.timeout(240)
def test_no_job_lost_across_20_worker_kills(spawn: Callable[..., Service], jobs: Jobs) -> None:
    service = spawn("worker", WORKER_QUEUE=jobs.queue.name, WORKER_CONCURRENCY="2")
    worker_health_port(service)
    job_ids = [jobs.enqueue(duration=1.0, text=f"job {n}") for n in range(24)]
    killed: list[str] = []
    dead: set[int] = set()
    while len(killed) < 20:
        found: list[tuple[int, str]] = []

        def busy(found: list[tuple[int, str]] = found) -> bool:
            hit = _busy_worker(jobs, _children(service.pid) - dead)
            if hit:
                found.append(hit)
            return hit is not None

        if not all(jobs.status(j) == "finished" for j in job_ids):
            wait_for(busy, 30, "a busy worker", interval=0.05)
        else:  # everything done before 20 kills: add work
            job_ids.append(jobs.enqueue(duration=1.0))
            continue
        pid, job_id = found[0]
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue  # finished and exited in between: not a kill
        dead.add(pid)
        killed.append(job_id)
    wait_for(
        lambda: all(jobs.status(j) == "finished" for j in job_ids),
        150,
        "every job to finish",
        interval=0.5,
    )
    rows = {j: jobs.row(j) for j in job_ids}
    assert all(r is not None and r.status == "finished" for r in rows.values())
    for job_id in set(killed):
        row = rows[job_id]
        assert row is not None
        assert row.attempts >= 2, f"{job_id} was killed but not run again"
    assert jobs.queue.failed_job_registry.count == 0


def test_production_with_a_missing_secret_exits_with_one_line(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "jwt_secret").write_text(JWT_SECRET)
    (secrets / "redis_password").write_text("integration-redis-password-0123456")
    env = {**service_env, "XORB_ENV": "production", "XORB_SECRETS_DIR": str(secrets)}
    env["DATABASE_PASSWORD"] = "env-var-is-ignored-in-production"
    for module in ("api", "worker", "orchestrator"):
        proc = subprocess.run(
            [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode != 0
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        assert len(lines) == 1, lines
        assert "postgres_password" in lines[0]
        assert JWT_SECRET not in lines[0]
        (LOG_DIR / f"production-{module}.log").write_text(proc.stdout + proc.stderr)
    proc = subprocess.run(
        [sys.executable, "-m", "common.config_manager", "validate", "production"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout.strip().splitlines() == [
        "secret postgres_password is missing (required in production) (database.password): "
        f"provide {secrets}/postgres_password"
    ]
