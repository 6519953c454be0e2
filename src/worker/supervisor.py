"""The worker service: ``WORKER_CONCURRENCY`` RQ worker processes under one supervisor.

The supervisor forks the workers (cheap: everything is already imported), restarts any
that exit (crash, memory limit) while running, and every ``maintenance_interval`` seconds
requeues abandoned jobs, cleans RQ's registries and moves due retries from the scheduled
registry to the queue (retries with back-off). It serves ``/health`` and ``/metrics``.

SIGTERM/SIGINT: warm shutdown. Each worker gets one SIGTERM, finishes its current job and
exits; after ``shutdown_timeout`` a second SIGTERM makes RQ stop cold (the interrupted job
is then recovered by whoever runs next). The supervisor exits 0.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType

from prometheus_client import Counter, Gauge
from redis import Redis
from rq import Queue
from rq.registry import clean_registries
from rq.scheduler import RQScheduler

from common.health import HealthServer
from common.log import get_logger
from common.settings import XorbConfig
from worker.recovery import recover_abandoned
from worker.runner import EXIT_MEMORY, run_worker

PROCESSES = Gauge("xorb_worker_processes", "Live RQ worker processes")
RESTARTS = Counter("xorb_worker_restarts_total", "Worker processes replaced", ["reason"])
RECOVERED = Counter("xorb_worker_recovered_jobs_total", "Abandoned jobs requeued")
QUEUED = Gauge("xorb_worker_queue_length", "Jobs waiting in the queue")
STARTED = Gauge("xorb_worker_jobs_started", "Jobs being executed")

log = get_logger("worker.supervisor")
_fork = multiprocessing.get_context("fork")


def _child(config: XorbConfig, name: str) -> None:
    raise SystemExit(run_worker(config, name))


@dataclass
class Supervisor:
    config: XorbConfig
    processes: dict[str, BaseProcess] = field(default_factory=dict)
    stopping: bool = False
    last_tick: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.redis = Redis.from_url(self.config.redis.get_url(), socket_timeout=10)
        self.queue = Queue(self.config.worker.queue, connection=self.redis)
        # Named after the container (its hostname): a supervisor restarted after a crash
        # takes its own scheduler lock back at once, instead of waiting out the lock's TTL
        # (a minute) during which nobody would move due retries to the queue.
        self.scheduler = RQScheduler(
            [self.queue], connection=self.redis, name=f"xorb-supervisor-{os.uname().nodename}"
        )

    # -- processes -------------------------------------------------------------------
    def spawn(self) -> None:
        name = f"{os.uname().nodename}.{uuid.uuid4().hex[:8]}"
        process = _fork.Process(target=_child, args=(self.config, name), name=f"rq-{name}")
        process.start()
        self.processes[name] = process
        log.info("worker process started", worker=name, pid=process.pid)

    def reap(self) -> None:
        for name, process in list(self.processes.items()):
            if process.is_alive():
                continue
            process.join()
            del self.processes[name]
            code = process.exitcode
            reason = "memory" if code == EXIT_MEMORY else ("stopped" if code == 0 else "crashed")
            log.log(
                20 if code in (0, EXIT_MEMORY) else 30,
                "worker process exited",
                worker=name,
                exit_code=code,
                reason=reason,
            )
            if not self.stopping:
                RESTARTS.labels(reason).inc()
        if not self.stopping:
            for _ in range(self.config.worker.concurrency - len(self.processes)):
                self.spawn()
        PROCESSES.set(len(self.processes))

    def signal_workers(self) -> None:
        for process in self.processes.values():
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    # -- queue maintenance -------------------------------------------------------------
    def maintain(self) -> None:
        try:
            recovered = recover_abandoned(self.queue)
            RECOVERED.inc(len(recovered))
            if self.queue.acquire_maintenance_lock():
                try:
                    clean_registries(self.queue)
                finally:
                    self.queue.release_maintenance_lock()  # type: ignore[no-untyped-call]
            if self.scheduler.acquire_locks():  # type: ignore[no-untyped-call]
                self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
            QUEUED.set(self.queue.count)
            STARTED.set(self.queue.started_job_registry.count)
        except Exception as exc:  # Redis down: keep supervising, try again next tick
            log.warning("queue maintenance failed", error=type(exc).__name__)

    # -- main loop ---------------------------------------------------------------------
    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("warm shutdown requested", signal=signal.Signals(signum).name)
            self.stopping = True
            self.signal_workers()

    def alive(self) -> bool:
        return time.monotonic() - self.last_tick < 30

    def run(self) -> int:
        settings = self.config.worker
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        health = HealthServer(settings.health_port, liveness=self.alive).start()
        log.info(
            "worker service started",
            concurrency=settings.concurrency,
            max_memory=settings.max_memory,
            queue=settings.queue,
            health_port=health.port,
        )
        deadline: float | None = None
        try:
            while True:
                self.last_tick = time.monotonic()
                self.reap()
                if self.stopping:
                    if not self.processes:
                        break
                    if deadline is None:
                        deadline = time.monotonic() + settings.shutdown_timeout
                    elif time.monotonic() > deadline:
                        log.warning("shutdown timeout: stopping workers cold")
                        self.signal_workers()
                        deadline = time.monotonic() + 5
                else:
                    self.maintain()
                time.sleep(min(settings.maintenance_interval, 1))
        finally:
            self.scheduler.release_locks()  # type: ignore[no-untyped-call]
            health.stop()
        log.info("worker service stopped")
        return 0
