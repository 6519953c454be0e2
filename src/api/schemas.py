"""Request and response bodies (they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.contracts import WorkflowRequest as WorkflowRequest  # shared with the orchestrator
from common.contracts import WorkflowState
from common.contracts import WorkflowStatus as WorkflowStatus

JobState = Literal[
    "queued", "started", "deferred", "scheduled", "finished", "failed", "stopped", "canceled"
]


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=100_000, description="Text to analyse")
    duration: float = Field(default=0.0, ge=0, le=30, description="Simulated work, seconds")
    fail_times: int = Field(
        default=0, ge=0, le=3, description="Fail the first N attempts (exercises retries)"
    )


class JobAccepted(BaseModel):
    id: str
    status: JobState


class JobStatus(BaseModel):
    id: str
    status: JobState
    attempts: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None


class WorkflowAccepted(BaseModel):
    id: str
    status: WorkflowState


class Health(BaseModel):
    status: Literal["ok"]
    version: str = Field(description="The running release (XORB_VERSION, e.g. the image tag)")
    instance: str = Field(
        description="The container that answered (its hostname, the container_id of its logs)"
    )


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]
    failed: list[str] = Field(default_factory=list)


class ErrorBody(BaseModel):
    detail: str
