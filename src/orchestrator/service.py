"""The orchestrator service: a Temporal worker for the text pipeline, and the HTTP API
(:mod:`orchestrator.http_api`, on the health port) through which the API starts workflows.

``TEMPORAL_HOST`` (configuration) says where Temporal is; the connection is retried while
Temporal starts. SIGTERM/SIGINT stop polling, let running activities finish for up to
``graceful_shutdown_timeout`` seconds, then exit 0.
"""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from common.health import HealthServer
from common.log import get_logger
from common.settings import XorbConfig
from orchestrator.activities import Activities
from orchestrator.http_api import WorkflowApi
from orchestrator.workflows import TextPipelineWorkflow

log = get_logger("orchestrator")


async def connect(config: XorbConfig) -> Client:
    settings = config.temporal
    attempts = config.orchestrator.connect_attempts
    for attempt in range(1, attempts + 1):
        try:
            return await asyncio.wait_for(
                Client.connect(settings.host, namespace=settings.namespace),
                settings.connect_timeout,
            )
        except (RuntimeError, TimeoutError, OSError) as exc:
            if attempt == attempts:
                raise ConnectionError(
                    f"cannot reach Temporal at {settings.host} after {attempts} attempts"
                ) from exc
            log.warning("temporal not reachable yet", host=settings.host, attempt=attempt)
            await asyncio.sleep(min(2.0, 0.5 * attempt))
    raise AssertionError("unreachable")


async def serve(config: XorbConfig) -> int:
    settings = config.orchestrator
    client = await connect(config)
    activities = Activities(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = True
    health = HealthServer(
        settings.health_port,
        liveness=lambda: running,
        router=WorkflowApi(client, config, loop),
    ).start()
    with ThreadPoolExecutor(max_workers=settings.max_concurrent_activities) as executor:
        worker = Worker(
            client,
            task_queue=config.temporal.task_queue,
            workflows=[TextPipelineWorkflow],
            activities=[activities.analyse_text, activities.check_dependency, activities.store_run],
            activity_executor=executor,
            max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_timeout),
        )
        log.info(
            "orchestrator started",
            temporal=config.temporal.host,
            task_queue=config.temporal.task_queue,
            health_port=health.port,
        )
        run = asyncio.create_task(worker.run())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("shutdown requested: draining", timeout=settings.graceful_shutdown_timeout)
            await worker.shutdown()
        else:
            stopped.cancel()
        try:
            await run
        finally:
            running = False
            await activities.close()
            health.stop()
    log.info("orchestrator stopped")
    return 0
