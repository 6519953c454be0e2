"""The orchestrator's HTTP API, served by its health server (port 9001 by default).

The API image has no Temporal SDK: it starts and reads workflows through these routes.

``POST /workflows``        body :class:`~common.contracts.WorkflowRequest`; 202
                           :class:`~common.contracts.WorkflowStarted`
``GET /workflows/{id}``    200 :class:`~common.contracts.WorkflowStatus`; 404 when unknown
``GET /ready``             200 when Temporal answers, else 503
                           ``{"status": "unavailable", "failed": ["temporal"]}``

Bad input answers 400 with a JSON ``detail``; an unreachable or slow Temporal 503. Requests
arrive on the health server's threads; each Temporal call runs on the orchestrator's asyncio
loop (which owns the client) through :func:`asyncio.run_coroutine_threadsafe`.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from common.contracts import (
    WORKFLOW_ID_PATTERN,
    WORKFLOW_NAME,
    WorkflowRequest,
    WorkflowStarted,
    WorkflowState,
    WorkflowStatus,
)
from common.health import HttpReply, HttpRequest
from common.log import get_logger
from common.settings import XorbConfig

T = TypeVar("T")
log = get_logger("orchestrator")

_WORKFLOW_PATH = re.compile(r"^/workflows/(?P<id>[^/]*)$")
_VALID_ID = re.compile(WORKFLOW_ID_PATTERN)
_STATES: dict[WorkflowExecutionStatus, WorkflowState] = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued_as_new",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}
READY_TIMEOUT_SECONDS = 1.0  # a probe must be cheap (and answer within the API's budget)
TEMPORAL_UNAVAILABLE = HttpReply(503, {"detail": "temporal unavailable"})


class TemporalUnavailable(Exception):
    """Temporal did not answer (in time)."""


class WorkflowApi:
    """The routes above, as a :data:`common.health.Router`."""

    def __init__(self, client: Client, config: XorbConfig, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._temporal = config.temporal
        self._timeout = config.orchestrator.temporal_timeout
        self._loop = loop

    def __call__(self, request: HttpRequest) -> HttpReply | None:
        if request.path == "/ready":
            return self._ready() if request.method == "GET" else _not_allowed()
        if request.path == "/workflows":
            return self._start(request.body) if request.method == "POST" else _not_allowed()
        match = _WORKFLOW_PATH.match(request.path)
        if match is None:
            return None
        if request.method != "GET":
            return _not_allowed()
        return self._describe(match["id"])

    # -- routes (health-server threads) ----------------------------------------------------

    def _ready(self) -> HttpReply:
        try:
            self._run(self.check(), min(self._timeout, READY_TIMEOUT_SECONDS))
        except TemporalUnavailable:
            return HttpReply(503, {"status": "unavailable", "failed": ["temporal"]})
        return HttpReply(200, {"status": "ok", "failed": []})

    def _start(self, body: bytes) -> HttpReply:
        try:
            request = WorkflowRequest.model_validate_json(body)
        except ValidationError as exc:
            return _invalid(exc)
        try:
            started = self._run(self.start(request))
        except TemporalUnavailable:
            return TEMPORAL_UNAVAILABLE
        log.info("workflow started", workflow_id=started.id, run_id=started.run_id)
        return HttpReply(202, started.model_dump())

    def _describe(self, workflow_id: str) -> HttpReply:
        if not _VALID_ID.match(workflow_id):
            return HttpReply(400, {"detail": f"workflow id must match {WORKFLOW_ID_PATTERN}"})
        try:
            status = self._run(self.describe(workflow_id))
        except TemporalUnavailable:
            return TEMPORAL_UNAVAILABLE
        if status is None:
            return HttpReply(404, {"detail": "no such workflow"})
        return HttpReply(200, status.model_dump())

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the orchestrator's loop under ``timeout`` (default: the
        Temporal timeout).

        Every failure (timeout, RPC error, loop closed at shutdown) is TemporalUnavailable:
        the route answers 503, never 500.
        """
        timeout = timeout or self._timeout
        try:
            future = asyncio.run_coroutine_threadsafe(
                asyncio.wait_for(coroutine, timeout), self._loop
            )
        except RuntimeError as exc:  # the loop is closed: shutting down
            coroutine.close()
            raise TemporalUnavailable("loop closed") from exc
        try:
            return future.result(timeout=timeout + 1.0)  # wait_for cancels first
        except Exception as exc:
            future.cancel()
            log.warning("temporal call failed", error=type(exc).__name__)
            raise TemporalUnavailable(type(exc).__name__) from exc

    # -- Temporal calls (the asyncio loop) ---------------------------------------------------

    async def check(self) -> None:
        if not await self._client.service_client.check_health():
            raise TemporalUnavailable("not serving")

    async def start(self, request: WorkflowRequest) -> WorkflowStarted:
        workflow_id = f"text-pipeline-{uuid.uuid4().hex}"
        handle = await self._client.start_workflow(
            WORKFLOW_NAME,
            request.model_dump(),
            id=workflow_id,
            task_queue=self._temporal.task_queue,
            execution_timeout=timedelta(seconds=self._temporal.workflow_timeout),
        )
        return WorkflowStarted(id=workflow_id, run_id=handle.result_run_id or "", status="running")

    async def describe(self, workflow_id: str) -> WorkflowStatus | None:
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        state = _STATES.get(description.status or WorkflowExecutionStatus.RUNNING, "running")
        result: dict[str, Any] | None = None
        if state == "completed":
            value = await handle.result()
            result = value if isinstance(value, dict) else {"value": value}
        return WorkflowStatus(id=workflow_id, status=state, result=result)


def _not_allowed() -> HttpReply:
    return HttpReply(405, {"detail": "Method Not Allowed"})


def _invalid(exc: ValidationError) -> HttpReply:
    errors = json.loads(exc.json(include_url=False, include_input=False))
    return HttpReply(400, {"detail": "invalid request body", "errors": errors})
