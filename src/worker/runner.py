"""One RQ worker process.

:class:`XorbWorker` is RQ's ``SimpleWorker`` (the job runs in this process, so a SIGKILL
really kills it, and the memory check sees the job's memory) with:

* a heartbeat thread that refreshes the job's StartedJobRegistry entry every
  ``heartbeat_interval`` seconds with a short TTL, so a killed worker's job is recovered in
  seconds rather than RQ's default of a minute or more;
* ``WORKER_MAX_MEMORY``: the heartbeat thread checks the process RSS while a job runs; over
  the limit, the job goes back through RQ's retry path (bounded by its ``Retry``) and the
  process exits at once with :data:`EXIT_MEMORY`, long before the container's memory limit
  would make the kernel kill it; the supervisor starts a fresh process and the job runs
  again there. After each job the RSS is checked too (a leak across jobs): over the limit
  the worker finishes and exits with :data:`EXIT_MEMORY` the same way;
* abandoned-job recovery (requeue) before RQ's own registry cleanup.

SIGTERM is RQ's warm shutdown: the current job completes, then the worker exits.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from typing import Any

import psutil
from redis import Redis
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.worker import WorkerStatus

from common.log import get_logger
from common.settings import XorbConfig
from worker.recovery import recover_abandoned

EXIT_MEMORY = 3
_PR_SET_PDEATHSIG = 1

log = get_logger("worker.runner")


class XorbWorker(SimpleWorker):
    def __init__(
        self,
        *args: Any,
        max_memory: int,
        heartbeat_interval: int,
        heartbeat_grace: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.job_monitoring_interval = heartbeat_interval
        self.max_memory = max_memory
        self.heartbeat_grace = heartbeat_grace
        self.memory_exceeded = False

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return int(self.job_monitoring_interval + self.heartbeat_grace)

    def _beat(self, job: Job, queue: Queue, execution: Execution, stop: threading.Event) -> None:
        while not stop.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception as exc:  # a Redis blip must not kill the job
                log.warning("heartbeat failed", job_id=job.id, error=type(exc).__name__)
            rss = psutil.Process().memory_info().rss
            if rss > self.max_memory and not stop.is_set():
                self._give_up_for_memory(job, queue, execution, rss)

    def _give_up_for_memory(self, job: Job, queue: Queue, execution: Execution, rss: int) -> None:
        """Hand the job back to RQ (retried while it has retries left) and exit now."""
        log.warning(
            "memory limit exceeded during a job: retrying it in a fresh worker",
            job_id=job.id,
            rss=rss,
            max_memory=self.max_memory,
            worker=self.name,
        )
        try:
            self.handle_job_failure(
                job,
                queue,
                exc_string=f"worker memory {rss} bytes over WORKER_MAX_MEMORY {self.max_memory}",
                execution=execution,
            )
        except Exception as exc:  # Redis away: the abandoned-job recovery requeues it
            log.warning("could not hand the job back", job_id=job.id, error=type(exc).__name__)
        os._exit(EXIT_MEMORY)

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, queue, execution, stop), daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join(timeout=5)
        self.set_state(WorkerStatus.IDLE)
        self.check_memory()

    def check_memory(self) -> None:
        rss = psutil.Process().memory_info().rss
        if rss > self.max_memory:
            log.warning(
                "memory limit exceeded, replacing this worker",
                rss=rss,
                max_memory=self.max_memory,
                worker=self.name,
            )
            self.memory_exceeded = True
            self._stop_requested = True

    def clean_registries(self) -> None:
        for queue in self.queues:
            recover_abandoned(queue)
        super().clean_registries()  # type: ignore[no-untyped-call]


def die_with_parent() -> None:
    """Linux: get SIGKILL when the supervisor dies, so no orphan keeps running a job."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def run_worker(config: XorbConfig, name: str) -> int:
    """Body of a worker child process; returns its exit code."""
    die_with_parent()
    settings = config.worker
    redis = Redis.from_url(config.redis.get_url())
    queue = Queue(settings.queue, connection=redis)
    worker = XorbWorker(
        [queue],
        name=name,
        connection=redis,
        max_memory=settings.max_memory,
        heartbeat_interval=settings.heartbeat_interval,
        heartbeat_grace=settings.heartbeat_grace,
        maintenance_interval=max(settings.maintenance_interval, 60),
        default_result_ttl=settings.result_ttl,
    )
    worker.work(logging_level=config.logging.level, with_scheduler=False)
    return EXIT_MEMORY if worker.memory_exceeded else 0
