"""The production stack under test, and how the tests look into it.

Traffic goes through nginx on a loopback port, as a user's would. What the tests observe
(job rows, queue lengths, worker processes) they read from inside the stack: ``psql`` in
the PostgreSQL container, ``redis-cli`` in the Redis container, and the host's view of the
containers' processes (the suite runs as root on the engine's host, like CI).
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from python_on_whales import Container

from xorb_tools.core import names
from xorb_tools.deploy import stack as stack_mod

HERE = Path(__file__).resolve().parent
PREFIX = names.suite_prefix("resilience")
"""``XORB_PROJECT_PREFIX`` of the suite: its stack is the compose project
``<namespace>-resilience-production``, beside anyone else's."""
QUEUE_NAME = "xorb-jobs"
QUEUE_KEY = f"rq:queue:{QUEUE_NAME}"
_HEX = re.compile(r"^[0-9a-f]{8,64}$")

# Enqueue like the API does, from inside a worker container (its configuration and secrets),
# for payload fields the public API does not take (ballast_mb).
_ENQUEUE = """
import json, sys, uuid
from redis import Redis
from rq import Queue, Retry
from common.config_manager import get_config
config = get_config()
settings = config.worker
queue = Queue(settings.queue, connection=Redis.from_url(config.redis.get_url()))
job_id = uuid.uuid4().hex
queue.enqueue(
    "worker.jobs.process_text",
    kwargs={"payload": json.loads(sys.argv[1])},
    job_id=job_id,
    retry=Retry(max=settings.retries, interval=settings.retry_intervals),
    job_timeout=settings.job_timeout,
    result_ttl=settings.result_ttl,
    failure_ttl=settings.result_ttl,
)
print(job_id)
"""


@dataclass
class JobRow:
    status: str
    attempts: int
    worker: str


@dataclass
class Platform:
    stack: stack_mod.Stack
    https_port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=False, timeout=timeout)

    # -- containers ------------------------------------------------------------------------
    def containers(self, service: str) -> list[Container]:
        """The service's running containers."""
        running = self.stack.docker.compose.ps([service])
        return sorted((c for c in running if c.state.running), key=lambda c: c.name)

    def container(self, service: str) -> Container:
        found = self.containers(service)
        assert found, f"no running {service} container"
        return found[0]

    def fresh(self, container: Container) -> Container:
        """The container as the engine sees it now (state, restart count, health)."""
        return self.stack.docker.container.inspect(container.id)

    def healthy(self, service: str, count: int) -> bool:
        """Whether ``count`` containers of ``service`` run and are healthy."""
        ok = [
            c
            for c in self.containers(service)
            if c.state.health is not None and c.state.health.status == "healthy"
        ]
        return len(ok) >= count

    def exec(self, service: str, argv: Sequence[str], container: Container | None = None) -> str:
        target = container or self.container(service)
        return str(self.stack.docker.container.execute(target, list(argv)) or "")

    # -- data ------------------------------------------------------------------------------
    def sql(self, query: str) -> list[list[str]]:
        """Rows of ``query`` (tab-separated fields), read with psql in the database container."""
        out = self.exec("postgres", ["psql", "-U", "xorb", "-d", "xorb", "-AtF", "\t", "-c", query])
        return [line.split("\t") for line in out.splitlines() if line]

    def redis(self, *args: str) -> str:
        """``redis-cli ARGS`` in the Redis container (password from its secret file)."""
        script = (
            "REDISCLI_AUTH=$(cat /run/secrets/redis_password); export REDISCLI_AUTH; "
            'exec redis-cli "$@"'
        )
        return self.exec("redis", ["sh", "-c", script, "redis-cli", *args]).strip()

    def queued(self) -> int:
        return int(self.redis("LLEN", QUEUE_KEY).split()[-1])

    def jobs(self, ids: Iterable[str]) -> dict[str, JobRow]:
        """The result rows of ``ids`` (absent ids have no row)."""
        wanted = [i for i in ids if _HEX.match(i)]
        if not wanted:
            return {}
        listed = ",".join(f"'{i}'" for i in wanted)
        rows = self.sql(
            f"SELECT job_id, status, attempts, coalesce(worker, '') FROM job_results "
            f"WHERE job_id IN ({listed})"
        )
        return {r[0]: JobRow(r[1], int(r[2]), r[3]) for r in rows}

    def finished(self, ids: Sequence[str]) -> bool:
        rows = self.jobs(ids)
        return len(rows) == len(ids) and all(r.status == "finished" for r in rows.values())

    def diagnose(self, ids: Sequence[str], log_lines: int = 40) -> str:
        """What the platform says about the unfinished jobs of ``ids``: their result rows,
        their RQ status, the queue and registries, and the workers' last log lines. For a
        failure message; every part is best effort, so it never hides the failure."""
        parts: list[str] = []

        def part(title: str, read: Callable[[], object]) -> None:
            try:
                parts.append(f"{title}: {read()}")
            except Exception as exc:  # the diagnosis must not replace the failure
                parts.append(f"{title}: unreadable ({type(exc).__name__}: {exc})")

        rows: dict[str, JobRow] = {}
        try:
            rows = self.jobs(ids)
        except Exception as exc:
            parts.append(f"result rows: unreadable ({type(exc).__name__})")
        open_ids = [i for i in ids if i not in rows or rows[i].status != "finished"]
        parts.append(f"unfinished: {[(i, rows.get(i)) for i in open_ids]}")
        for job_id in open_ids[:5]:
            fields = ("HMGET", f"rq:job:{job_id}", "status", "worker_name", "ended_at")
            part(f"rq job {job_id}", functools.partial(self.redis, *fields))
        part("queued", self.queued)
        part(
            "started registry",
            lambda: self.redis("ZRANGE", f"rq:wip:{QUEUE_NAME}", "0", "-1", "WITHSCORES"),
        )
        part("failed registry", lambda: self.redis("ZRANGE", f"rq:failed:{QUEUE_NAME}", "0", "-1"))
        for container in self.containers("worker"):
            logs = functools.partial(self.stack.docker.container.logs, container, tail=log_lines)
            part(f"{container.name} last {log_lines} log lines", logs)
        return "\n".join(parts)

    # -- jobs ------------------------------------------------------------------------------
    def enqueue(self, client: httpx.Client, count: int, duration: float, label: str) -> list[str]:
        """``count`` jobs through nginx and the API (POST /jobs); their ids."""
        ids = []
        for n in range(count):
            body = {"text": f"{label} job {n} of {count}", "duration": duration}
            response = client.post("/jobs", json=body)
            assert response.status_code == 202, response.text
            ids.append(str(response.json()["id"]))
        return ids

    def enqueue_direct(self, payload: dict[str, object]) -> str:
        """One job straight onto the worker queue (fields the public API does not take)."""
        out = self.exec("worker", ["python3", "-c", _ENQUEUE, json.dumps(payload)])
        return out.strip().splitlines()[-1]

    # -- processes -------------------------------------------------------------------------
    def busy_workers(self) -> list[tuple[int, str]]:
        """``(host pid, job id)`` of every work-horse running a job right now."""
        pids: dict[tuple[str, int], int] = {}
        for container in self.containers("worker"):
            hostname = str(container.config.hostname)
            for pid in _descendants(int(container.state.pid or 0)):
                nspid = _namespace_pid(pid)
                if nspid is not None:
                    pids[(hostname, nspid)] = pid
        busy = []
        for name, nspid, job in self._rq_workers():
            host_pid = pids.get((name.split(".", 1)[0], nspid))
            if host_pid is not None and job:
                busy.append((host_pid, job))
        return sorted(busy)

    def _rq_workers(self) -> list[tuple[str, int, str]]:
        """``(name, pid in its container, current job id)`` of every RQ worker, read in one
        go from RQ's worker hashes and execution sets."""
        script = (
            "REDISCLI_AUTH=$(cat /run/secrets/redis_password); export REDISCLI_AUTH; "
            "for key in $(redis-cli SMEMBERS rq:workers); do "
            'echo "$key $(redis-cli HGET "$key" pid) $(redis-cli SMEMBERS "$key:executions")"; '
            "done"
        )
        rows = []
        for line in self.exec("redis", ["sh", "-c", script]).splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                name = fields[0].removeprefix("rq:worker:")
                job = fields[2].split(":", 1)[0] if len(fields) > 2 else ""  # "<job>:<execution>"
                rows.append((name, int(fields[1]), job))
        return rows


def _descendants(root: int) -> list[int]:
    """Host pids of every process below ``root`` (from ``/proc``: no extra dependency)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _namespace_pid(pid: int) -> int | None:
    """A process's pid inside its own PID namespace (the last ``NSpid`` field)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return None


def kill(pid: int) -> bool:
    """SIGKILL ``pid`` (a host pid); False when it was already gone."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True
