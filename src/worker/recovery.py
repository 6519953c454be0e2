"""Recovery of jobs abandoned by a killed worker: requeued, never failed.

A worker that dies by SIGKILL (or OOM kill, or a lost container) leaves its job in the
queue's StartedJobRegistry. The worker heartbeats the job every ``heartbeat_interval``
seconds with a TTL of ``heartbeat_interval + heartbeat_grace``, so an entry whose TTL has
passed belongs to a dead worker. RQ's own cleanup would spend one of the job's retries on it
or, with none left, fail it; :func:`recover_abandoned` puts it back at the front of the queue
instead. Removing the registry entry is the claim, and it happens in one transaction with
the requeue: a recoverer killed between the two (the worker processes run it too, and get
killed) can no longer leave a job that is in no registry and no queue. Only the caller whose
transaction commits requeues, so the supervisor and the workers can all run it concurrently.
"""

from __future__ import annotations

from redis.exceptions import WatchError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.utils import current_timestamp

from common.log import get_logger

log = get_logger("worker.recovery")


def _claim_and_requeue(queue: Queue, key: str, entry: bytes | str, job: Job) -> bool:
    """ZREM the registry entry and push the job to the front of its queue, atomically."""
    with queue.connection.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.zscore(key, entry) is None:
                return False
            pipe.multi()
            pipe.zrem(key, entry)
            queue.enqueue_job(job, pipeline=pipe, at_front=True)
            pipe.execute()
        except WatchError:
            return False
    return True


def recover_abandoned(queue: Queue) -> list[str]:
    """Requeue every job whose execution heartbeat expired; returns their ids."""
    connection = queue.connection
    registry = queue.started_job_registry
    recovered: list[str] = []
    for raw in connection.zrangebyscore(registry.key, 0, current_timestamp()):
        entry = raw.decode() if isinstance(raw, bytes) else str(raw)
        job_id = entry.split(":", 1)[0]
        try:
            job = Job.fetch(job_id, connection=connection, serializer=queue.serializer)
        except NoSuchJobError:
            connection.zrem(registry.key, raw)
            continue
        if job.get_status(refresh=False) != JobStatus.STARTED:
            continue  # finished or failed in the meantime: RQ's own cleanup removes it
        if not _claim_and_requeue(queue, registry.key, raw, job):
            continue  # someone else claimed it, or the registry moved: the next round decides
        recovered.append(job_id)
        log.warning("requeued abandoned job", job_id=job_id, queue=queue.name)
    return recovered
