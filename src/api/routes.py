"""HTTP routes: probes, metrics, jobs (RQ worker) and workflows (the orchestrator's HTTP API)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from api.metrics import render_metrics
from api.schemas import (
    ErrorBody,
    Health,
    JobAccepted,
    JobRequest,
    JobStatus,
    Readiness,
    WorkflowAccepted,
    WorkflowRequest,
    WorkflowStatus,
)
from api.services import Services, get_services
from common.contracts import WORKFLOW_ID_PATTERN
from common.log import container_id

Id = Annotated[str, Path(pattern=WORKFLOW_ID_PATTERN, description="Job or workflow id")]
ServicesDep = Annotated[Services, Depends(get_services)]
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "A platform dependency is unavailable"}
}

probes = APIRouter(tags=["operations"])
api = APIRouter(tags=["platform"])
debug = APIRouter(include_in_schema=False)


@probes.get("/health", response_model=Health, summary="Liveness (no dependencies)")
async def health(request: Request) -> Health:
    return Health(status="ok", version=request.app.state.version, instance=container_id())


@probes.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency failed"}},
    summary="Readiness: database, Redis and Temporal",
)
async def ready(services: ServicesDep) -> JSONResponse:
    checks = await services.readiness()
    failed = sorted(name for name, result in checks.items() if result != "ok")
    body = Readiness(status="unavailable" if failed else "ok", checks=checks, failed=failed)
    return JSONResponse(
        body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE if failed else 200
    )


@probes.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    payload, content_type = render_metrics()
    return Response(payload, media_type=content_type)


@api.post(
    "/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=UNAVAILABLE,
    summary="Enqueue a text-processing job for the worker",
)
def create_job(body: JobRequest, services: ServicesDep) -> JobAccepted:
    job_id = uuid.uuid4().hex
    services.jobs.enqueue(job_id, body.model_dump())
    return JobAccepted(id=job_id, status="queued")


@api.get(
    "/jobs/{job_id}",
    response_model=JobStatus,
    responses={404: {"model": ErrorBody}, **UNAVAILABLE},
    summary="A job's status, and its result once finished",
)
def get_job(job_id: Id, services: ServicesDep) -> JobStatus:
    record = services.jobs.get(job_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job")
    return JobStatus.model_validate({"id": job_id, **record.__dict__})


@api.post(
    "/workflows",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WorkflowAccepted,
    responses=UNAVAILABLE,
    summary="Start the orchestrator's text pipeline workflow",
)
async def create_workflow(body: WorkflowRequest, services: ServicesDep) -> WorkflowAccepted:
    workflow_id = await services.workflows.start(body.model_dump())
    return WorkflowAccepted(id=workflow_id, status="running")


@api.get(
    "/workflows/{workflow_id}",
    response_model=WorkflowStatus,
    responses={404: {"model": ErrorBody}, **UNAVAILABLE},
    summary="A workflow's status, and its result once completed",
)
async def get_workflow(workflow_id: Id, services: ServicesDep) -> WorkflowStatus:
    record = await services.workflows.get(workflow_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such workflow")
    return WorkflowStatus.model_validate({"id": workflow_id, **record.__dict__})


@debug.get("/debug/sleep")
async def sleep(
    request: Request, seconds: Annotated[float, Query(ge=0, le=30)] = 1.0
) -> dict[str, float]:
    """A deliberately slow request, for graceful-shutdown tests (enabled by configuration)."""
    await asyncio.sleep(seconds)
    return {"slept": seconds}
