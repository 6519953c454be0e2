"""Whether a stack has converged: raw ``docker service inspect`` and ``docker service ps``
JSON (python-on-whales' models leave out what gets compared), per-service state, and the
bounded wait until every service runs its new spec or swarm rolled it back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from python_on_whales.utils import run

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy.swarm.node import manager

NAMESPACE_LABEL = "com.docker.stack.namespace"
POLL_SECONDS = 2.0
JOB_SETTLE = 20.0
"""Seconds a job must stay failed before it counts as failed (its restarts wait 5 s)."""


def _docker_json(*args: str) -> Any:
    """``docker ARGS`` through the configured client's argv, its stdout parsed as JSON."""
    cmd = [*manager().client_config.docker_cmd, *args]
    with engine.docker_errors(f"docker {' '.join(args[:2])}"):
        output = run(cmd)
    return json.loads(str(output) or "[]")


def docker_lines(*args: str) -> list[str]:
    cmd = [*manager().client_config.docker_cmd, *args]
    with engine.docker_errors(f"docker {' '.join(args[:2])}"):
        output = run(cmd)
    return [ln.strip() for ln in str(output).splitlines() if ln.strip()]


@dataclass
class Snapshot:
    """A stack's services and tasks, as ``docker service inspect`` / ``docker inspect``."""

    stack: str
    services: dict[str, dict[str, Any]]
    """Short service name (``api``) -> inspect JSON."""
    tasks: list[dict[str, Any]]

    def tasks_of(self, service: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t.get("ServiceID") == service.get("ID")]


def snapshot(stack: str, attempts: int = 3) -> Snapshot:
    """Every service of ``stack`` and every task (history included).

    Swarm deletes old tasks at any time, so a task listed can be gone when inspected: the
    snapshot is then taken again.
    """
    for attempt in range(attempts):
        try:
            ids = docker_lines(
                "service", "ls", "-q", "--filter", f"label={NAMESPACE_LABEL}={stack}"
            )
            found = _docker_json("service", "inspect", *ids) if ids else []
            task_ids = docker_lines("stack", "ps", "-q", "--no-trunc", stack) if ids else []
            tasks = _docker_json("inspect", "--type", "task", *task_ids) if task_ids else []
        except XorbError:
            if attempt + 1 == attempts:
                raise
            time.sleep(POLL_SECONDS / 2)
            continue
        named = {str(s["Spec"]["Name"]).removeprefix(f"{stack}_"): s for s in found}
        return Snapshot(stack, named, tasks)
    raise AssertionError("unreachable")


def _pruned(value: Any) -> Any:
    """``value`` without empty members (task specs omit what service specs leave empty)."""
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


SPEC_KEYS = (
    "Image",
    "Command",
    "Args",
    "Env",
    "User",
    "Mounts",
    "Secrets",
    "Configs",
    "Healthcheck",
    "ReadOnly",
    "CapabilityDrop",
    "CapabilityAdd",
)
"""What tells a task's container apart from another spec's (task specs leave defaults out)."""


def same_spec(task_spec: Any, template: Any) -> bool:
    """Whether a task runs ``template``: the same container essentials and resources."""
    task_spec, template = task_spec or {}, template or {}
    task_c, want_c = task_spec.get("ContainerSpec") or {}, template.get("ContainerSpec") or {}
    return all(_pruned(task_c.get(k)) == _pruned(want_c.get(k)) for k in SPEC_KEYS) and (
        _pruned(task_spec.get("Resources")) == _pruned(template.get("Resources"))
    )


def update_key(service: Mapping[str, Any]) -> str:
    status = service.get("UpdateStatus") or {}
    return f"{status.get('State')}@{status.get('StartedAt')}" if status else ""


def _errors(tasks: Iterable[Mapping[str, Any]]) -> list[str]:
    """Distinct task errors, newest first."""
    seen: list[str] = []
    ordered = sorted(tasks, key=lambda t: str(t.get("Status", {}).get("Timestamp")), reverse=True)
    for task in ordered:
        err = str(task.get("Status", {}).get("Err") or "").strip()
        if err and err not in seen:
            seen.append(err)
    return seen


def _why(tasks: list[dict[str, Any]], status: Mapping[str, Any]) -> str:
    """Why an update was rolled back: the newest task error, else the newest task's state."""
    errors = _errors(tasks)
    if errors:
        return errors[0]
    newest = sorted(tasks, key=lambda t: str(t.get("Status", {}).get("Timestamp")))[-1:]
    for task in newest:
        task_status = task.get("Status", {})
        return f"a new task ended {task_status.get('State')} ({task_status.get('Message')})"
    return str(status.get("Message") or "swarm recorded no reason")


@dataclass(frozen=True)
class ServiceState:
    """Where one service stands: ``waiting``, ``converged``, ``rolled-back`` or ``failed``."""

    name: str
    state: str
    detail: str
    final: bool = True
    """False for a job that failed but may be restarted by its restart policy."""


def service_state(
    name: str, service: Mapping[str, Any], tasks: list[dict[str, Any]], before: str | None
) -> ServiceState:
    """Judge one service from its inspect JSON, its tasks and its UpdateStatus before deploy."""
    spec = service["Spec"]
    template = spec.get("TaskTemplate") or {}
    status = service.get("UpdateStatus") or {}
    if status and update_key(service) != before:
        state = str(status.get("State"))
        if state == "rollback_completed":
            # The tasks of the spec swarm gave up on are the ones not running the current
            # (restored) spec; the newest error among them is why.
            undone = [t for t in tasks if not same_spec(t.get("Spec"), template)]
            return ServiceState(name, "rolled-back", _why(undone, status))
        if state in ("paused", "rollback_paused"):
            return ServiceState(name, "failed", f"update {state}: {status.get('Message')}")
        if state in ("updating", "rollback_started"):
            return ServiceState(name, "waiting", f"{state}: {status.get('Message') or ''}")
    mode = spec.get("Mode") or {}
    if "ReplicatedJob" in mode or "GlobalJob" in mode:
        iteration = (service.get("JobStatus") or {}).get("JobIteration")
        runs = [t for t in tasks if t.get("JobIteration") == iteration]
        states = [str(t.get("Status", {}).get("State")) for t in runs]
        if "complete" in states:
            return ServiceState(name, "converged", "job completed")
        live = any(t.get("DesiredState") in ("running", "complete") for t in runs)
        if runs and not live:
            error = (_errors(runs) or ["no error recorded"])[0]
            return ServiceState(name, "failed", f"job failed: {error}", final=False)
        return ServiceState(name, "waiting", "job running")
    current = [t for t in tasks if t.get("DesiredState") == "running"]
    ready = [
        t
        for t in current
        if t.get("Status", {}).get("State") == "running" and same_spec(t.get("Spec"), template)
    ]
    wanted = (mode.get("Replicated") or {}).get("Replicas", len(current))
    lingering = [
        t
        for t in tasks
        if t.get("DesiredState") != "running" and t.get("Status", {}).get("State") == "running"
    ]
    progress = f"{len(ready)}/{wanted} running"
    if len(ready) == wanted == len(current) and not lingering:
        return ServiceState(name, "converged", progress)
    errors = _errors(t for t in tasks if same_spec(t.get("Spec"), template))
    return ServiceState(name, "waiting", progress + (f" ({errors[0]})" if errors else ""))


def wait(
    stack: str,
    names: Iterable[str],
    before: Mapping[str, str],
    *,
    timeout: float,
    say: Callable[[str], None] | None = None,
) -> list[ServiceState]:
    """Poll until every named service is no longer ``waiting``, or ``timeout`` seconds pass
    (then the ones still waiting are ``failed``, saying where they stood)."""
    deadline = time.monotonic() + timeout
    pending = sorted(names)
    last: dict[str, ServiceState] = {}
    shown: dict[str, str] = {}
    failing: dict[str, float] = {}  # job -> when it was first seen failed
    while True:
        snap = snapshot(stack)
        for name in pending:
            service = snap.services.get(name)
            if service is None:
                last[name] = ServiceState(name, "waiting", "not created yet")
                continue
            state = service_state(name, service, snap.tasks_of(service), before.get(name))
            if state.final:
                failing.pop(name, None)
            elif time.monotonic() - failing.setdefault(name, time.monotonic()) < JOB_SETTLE:
                state = ServiceState(name, "waiting", f"retrying after {state.detail}")
            last[name] = state
            if say and shown.get(name) != state.detail:
                shown[name] = state.detail
                say(f"{name}: {state.state} {state.detail}")
        if all(s.state != "waiting" for s in last.values()):
            return [last[n] for n in pending]
        if time.monotonic() >= deadline:
            return [
                s
                if s.state != "waiting"
                else ServiceState(s.name, "failed", f"timed out: {s.detail}")
                for s in (last[n] for n in pending)
            ]
        time.sleep(POLL_SECONDS)
