"""The API's gateways to the platform: RQ (Redis), PostgreSQL and the orchestrator.

Workflows go through the orchestrator's HTTP API: the API image carries no Temporal SDK.

Routes depend on :class:`Services` only, through :func:`get_services`; unit tests override
that dependency with fakes, integration tests use the real thing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
from fastapi import Request
from pydantic import BaseModel, ValidationError
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from common.contracts import JOB_FUNCTION, WorkflowStarted, WorkflowState, WorkflowStatus
from common.db import create_db_engine, get_job_result, session_factory
from common.settings import XorbConfig

M = TypeVar("M", bound=BaseModel)


class DependencyUnavailable(Exception):
    """A platform dependency could not be reached; the API answers 503 naming it.

    ``reason`` is short and safe to show (an exception class name, an HTTP status), never a
    message that could carry hosts or credentials.
    """

    def __init__(self, dependency: str, reason: str = "unavailable") -> None:
        self.dependency = dependency
        self.reason = reason
        super().__init__(f"{dependency} unavailable")


@dataclass(frozen=True)
class JobRecord:
    status: str
    attempts: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class WorkflowRecord:
    status: WorkflowState
    result: dict[str, Any] | None = None


class JobGateway(Protocol):
    def enqueue(self, job_id: str, payload: dict[str, Any]) -> None: ...
    def get(self, job_id: str) -> JobRecord | None: ...


class WorkflowGateway(Protocol):
    async def start(self, payload: dict[str, Any]) -> str:
        """Start the workflow; its id."""
        ...

    async def get(self, workflow_id: str) -> WorkflowRecord | None: ...


Check = Callable[[], Awaitable[None]]


@dataclass
class Services:
    jobs: JobGateway
    workflows: WorkflowGateway
    checks: dict[str, Check]
    readiness_timeout: float = 2.0

    async def readiness(self) -> dict[str, str]:
        """Run every dependency check concurrently, each under the timeout.

        A check that raises :class:`DependencyUnavailable` is reported under the dependency
        it names (the Temporal check names the orchestrator when that cannot be reached).
        """

        async def run(name: str, check: Check) -> tuple[str, str]:
            try:
                await asyncio.wait_for(check(), self.readiness_timeout)
            except TimeoutError:
                return name, "timeout"
            except DependencyUnavailable as exc:
                return exc.dependency, f"error: {exc.reason}"
            except Exception as exc:  # the class name only: messages may carry hosts or users
                return name, f"error: {type(exc).__name__}"
            return name, "ok"

        results = await asyncio.gather(*(run(n, c) for n, c in self.checks.items()))
        return dict(results)

    async def close(self) -> None:
        """Release connections (the real implementation overrides this)."""


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


_RQ_STATES = {
    "queued",
    "started",
    "deferred",
    "scheduled",
    "finished",
    "failed",
    "stopped",
    "canceled",
}


class RqJobGateway:
    """Enqueue on the worker's RQ queue; read status from Redis and results from PostgreSQL."""

    def __init__(
        self, config: XorbConfig, redis: Redis[bytes], sessions: sessionmaker[Session]
    ) -> None:
        self._config = config.worker
        self._redis = redis
        self._queue = Queue(config.worker.queue, connection=redis)
        self._sessions = sessions

    def enqueue(self, job_id: str, payload: dict[str, Any]) -> None:
        try:
            self._enqueue(job_id, payload)
        except RedisError as exc:
            raise DependencyUnavailable("redis") from exc

    def _enqueue(self, job_id: str, payload: dict[str, Any]) -> None:
        settings = self._config
        retry = (
            Retry(max=settings.retries, interval=settings.retry_intervals)
            if settings.retries
            else None
        )
        self._queue.enqueue(
            JOB_FUNCTION,
            kwargs={"payload": payload},
            job_id=job_id,
            retry=retry,
            job_timeout=settings.job_timeout,
            result_ttl=settings.result_ttl,
            failure_ttl=settings.result_ttl,
            description=f"process_text {job_id}",
        )

    def get(self, job_id: str) -> JobRecord | None:
        queue_status: str | None
        try:
            job = Job.fetch(job_id, connection=self._redis)
            status = job.get_status(refresh=False)
            queue_status = str(status.value if status is not None else "queued")
        except NoSuchJobError:
            queue_status = None
        except RedisError as exc:
            raise DependencyUnavailable("redis") from exc
        try:
            with self._sessions() as session:
                row = get_job_result(session, job_id)
                stored = (
                    JobRecord(row.status, row.attempts, row.result, row.error)
                    if row is not None
                    else None
                )
        except OperationalError as exc:
            raise DependencyUnavailable("database") from exc
        if queue_status is None:
            return stored
        if queue_status not in _RQ_STATES:
            queue_status = "queued"
        if stored is None:
            return JobRecord(queue_status)
        # Redis knows the lifecycle (queued again after a retry); PostgreSQL has the data.
        if queue_status == "finished" and stored.status != "finished":
            queue_status = "started"
        return JobRecord(queue_status, stored.attempts, stored.result, stored.error)


class OrchestratorGateway:
    """Start and read workflows through the orchestrator's HTTP API (no Temporal SDK here).

    Connection errors, timeouts and answers that break the contract raise
    ``DependencyUnavailable("orchestrator")``; the orchestrator's own 503 (Temporal down)
    raises ``DependencyUnavailable("temporal")``. The routes turn both into a 503.
    """

    def __init__(
        self, config: XorbConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        settings = config.orchestrator
        self._http = httpx.AsyncClient(
            base_url=settings.url, timeout=settings.request_timeout, transport=transport
        )
        # Under the readiness budget, so a slow orchestrator is reported by name.
        self._ready_timeout = 0.8 * config.api_service.readiness_timeout

    async def _call(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                path,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                **kwargs,
            )
        except httpx.HTTPError as exc:  # connection refused, DNS, timeouts, protocol errors
            raise DependencyUnavailable("orchestrator", type(exc).__name__) from exc

    @staticmethod
    def _unexpected(response: httpx.Response) -> DependencyUnavailable:
        if response.status_code == 503:
            return DependencyUnavailable("temporal")
        return DependencyUnavailable("orchestrator", f"HTTP {response.status_code}")

    @staticmethod
    def _parse(model: type[M], response: httpx.Response) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise DependencyUnavailable("orchestrator", "invalid response") from exc

    async def check(self) -> None:
        """Readiness of Temporal, as the orchestrator sees it."""
        response = await self._call("GET", "/ready", timeout=self._ready_timeout)
        if response.status_code != 200:
            raise self._unexpected(response)

    async def start(self, payload: dict[str, Any]) -> str:
        response = await self._call("POST", "/workflows", json=payload)
        if response.status_code not in (200, 201, 202):
            raise self._unexpected(response)
        return self._parse(WorkflowStarted, response).id

    async def get(self, workflow_id: str) -> WorkflowRecord | None:
        response = await self._call("GET", f"/workflows/{workflow_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._unexpected(response)
        status = self._parse(WorkflowStatus, response)
        return WorkflowRecord(status.status, status.result)

    async def close(self) -> None:
        await self._http.aclose()


class PlatformServices(Services):
    """The real gateways, built from the configuration."""

    def __init__(self, config: XorbConfig) -> None:
        settings = config.redis
        self.redis = Redis.from_url(
            settings.get_url(),
            socket_timeout=settings.socket_timeout,
            socket_connect_timeout=settings.socket_timeout,
        )
        self.engine: Engine = create_db_engine(config.database)
        self.orchestrator = OrchestratorGateway(config)
        super().__init__(
            jobs=RqJobGateway(config, self.redis, session_factory(self.engine)),
            workflows=self.orchestrator,
            checks={
                "database": self._check_database,
                "redis": self._check_redis,
                "temporal": self.orchestrator.check,  # or "orchestrator" when unreachable
            },
            readiness_timeout=config.api_service.readiness_timeout,
        )

    async def _check_database(self) -> None:
        def ping() -> None:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        await asyncio.to_thread(ping)

    async def _check_redis(self) -> None:
        await asyncio.to_thread(self.redis.ping)

    async def close(self) -> None:
        await self.orchestrator.close()
        self.redis.close()
        self.engine.dispose()
