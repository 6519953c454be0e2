"""Names and wire formats shared between services that do not import each other's packages.

The API image carries only ``common`` and ``api``: it enqueues the worker's job by name, and
starts and reads the orchestrator's workflow over the orchestrator's HTTP API
(``POST /workflows``, ``GET /workflows/{id}``, ``GET /ready``) with these bodies. Both sides
validate with the same models, so the public API and the orchestrator cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JOB_FUNCTION = "worker.jobs.process_text"
JOB_KIND = "process_text"
WORKFLOW_NAME = "TextPipelineWorkflow"
WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

WorkflowState = Literal[
    "running", "completed", "failed", "canceled", "terminated", "continued_as_new", "timed_out"
]


# No docstrings on the models below: they would become OpenAPI descriptions.


class WorkflowRequest(BaseModel):  # POST /workflows, API and orchestrator
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=100_000)
    check_dependency: bool = Field(
        default=True, description="Call the external HTTP dependency (circuit-breaker guarded)"
    )
    delay: float = Field(
        default=0.0, ge=0, le=30, description="Durable timer before the result is stored, seconds"
    )


class WorkflowStarted(BaseModel):  # the orchestrator's answer to POST /workflows
    id: str
    run_id: str
    status: WorkflowState


class WorkflowStatus(BaseModel):  # GET /workflows/{id}, API and orchestrator
    id: str
    status: WorkflowState
    result: dict[str, Any] | None = None
