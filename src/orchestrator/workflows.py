"""The text pipeline workflow: analyse, check the external dependency, wait ``delay`` seconds
(a durable timer), store the result."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from common.contracts import WORKFLOW_NAME

with workflow.unsafe.imports_passed_through():
    from orchestrator.activities import Activities, StoreRequest

QUICK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_attempts=3)
DEPENDENCY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
    non_retryable_error_types=["CircuitOpen"],
)
STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10)


@dataclass
class PipelineInput:
    text: str
    check_dependency: bool = True
    delay: float = 0.0


@workflow.defn(name=WORKFLOW_NAME)
class TextPipelineWorkflow:
    @workflow.run
    async def run(self, request: PipelineInput) -> dict[str, Any]:
        stats = await workflow.execute_activity_method(
            Activities.analyse_text,
            request.text,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=QUICK_RETRY,
        )
        dependency: dict[str, Any] = {"status": "skipped"}
        if request.check_dependency:
            try:
                dependency = await workflow.execute_activity_method(
                    Activities.check_dependency,
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=DEPENDENCY_RETRY,
                )
            except ActivityError as exc:  # degrade: the pipeline still completes
                dependency = {"status": "unavailable", "reason": str(exc.cause or exc)}
        if request.delay > 0:  # a durable timer: it survives worker and server restarts
            await workflow.sleep(timedelta(seconds=request.delay))
        workflow_id = workflow.info().workflow_id
        result = {"workflow_id": workflow_id, "stats": stats, "dependency": dependency}
        await workflow.execute_activity_method(
            Activities.store_run,
            StoreRequest(workflow_id=workflow_id, input=asdict(request), result=result),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=STORE_RETRY,
        )
        return result
