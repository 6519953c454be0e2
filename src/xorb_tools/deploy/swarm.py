"""Docker Swarm: ``inv swarm.init|leave``, rolling updates (``inv deploy --engine swarm``), scaling.

A swarm deploy reuses an environment's compose files. ``docker stack deploy`` reads neither
``extends`` nor several compose keys, so :func:`deploy`

1. renders the files with ``docker compose config`` (:func:`xorb_tools.deploy.stack.render`);
2. adapts the result to what swarm supports (:func:`adapt`, no engine involved): ``tmpfs``
   and ``shm_size`` become tmpfs mounts, read-only bind mounts of files become swarm configs,
   file secrets become swarm secrets named with a hash of their content (swarm secrets are
   immutable, so a changed file is a new secret), a one-shot service (``restart: "no"``)
   becomes a job, ``depends_on`` and the options swarm ignores are dropped with a note, and
   the release's version becomes the image tag of every XORB service and ``XORB_VERSION``;
3. deploys it (``docker stack deploy``) and polls ``docker service inspect`` until every
   service has converged (``UpdateStatus`` ``completed``, or every task running the new spec)
   or swarm has rolled an update back (``rollback_completed``), within ``timeout`` seconds.

The compose files carry the rollout policy (``x-rollout``: one task at a time, a delay,
``failure_action: rollback``, start-first) and make the endpoint mode and the port publishing
mode variables (``XORB_ENDPOINT_MODE``, ``XORB_PUBLISH_MODE``) whose defaults are swarm's
(``vip``, ``ingress``). Hosts without IPVS (these) need ``dnsrr`` and ``host``.

The stack is named like the compose project, ``xorb-<environment>`` (``XORB_PROJECT_PREFIX``
replaces ``xorb``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run

from xorb_tools.core import engine, inputs, names, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import deploylog
from xorb_tools.deploy import stack as stack_mod

RESERVATIONS_ENV = "XORB_SWARM_RESERVATIONS"
"""``off`` drops CPU/memory reservations (a small single-node swarm cannot hold them)."""
ENDPOINT_MODES = ("vip", "dnsrr")
PUBLISH_MODES = ("ingress", "host")
NAMESPACE_LABEL = "com.docker.stack.namespace"
POLL_SECONDS = 2.0
INIT_HINT = "run `uv run inv swarm.init` (a single-node swarm) or use a manager's DOCKER_HOST"
JOB_RETRIES = 10
"""Attempts a one-shot service (a swarm job) gets: its dependencies may still be starting."""
JOB_SETTLE = 20.0
"""Seconds a job must stay failed before it counts as failed (its restarts wait 5 s)."""

# Service keys `docker stack deploy` accepts and swarm applies, kept as they are.
# fmt: off
KEPT = frozenset({
    "cap_add", "cap_drop", "command", "configs", "deploy", "dns", "dns_search", "entrypoint",
    "environment", "extra_hosts", "healthcheck", "hostname", "image", "init", "isolation",
    "labels", "logging", "networks", "ports", "read_only", "secrets", "stop_grace_period",
    "stop_signal", "sysctls", "tty", "ulimits", "user", "volumes", "working_dir",
})
# fmt: on
# Keys handled by adapt() itself (translated or dropped with a specific note).
TRANSLATED = frozenset({"tmpfs", "shm_size", "restart", "depends_on", "group_add", "security_opt"})
SILENT = frozenset({"profiles", "pull_policy", "container_name", "expose"})


# --------------------------------------------------------------------------------------------
# The swarm itself
# --------------------------------------------------------------------------------------------


def stack_name(environment: str) -> str:
    """The swarm stack of ``environment``: its compose project name (``xorb-<environment>``)."""
    name = names.project_name(environment)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,48}", name):
        raise XorbError(
            f"{name!r} is not a stack name: set {names.PROJECT_PREFIX_VAR} to lower-case "
            "letters, digits, - and _."
        )
    return name


def node_state(docker: DockerClient | None = None) -> tuple[str, bool]:
    """(``LocalNodeState``, whether this node is a manager) of the engine's swarm."""
    docker = docker or engine.client()
    engine.require_daemon()
    with engine.docker_errors("Reading the swarm state (docker info)"):
        swarm = docker.info().swarm
    state = str(swarm.local_node_state or "inactive") if swarm else "inactive"
    return state, bool(swarm and swarm.control_available)


def require_manager() -> None:
    """Fail in one sentence unless the engine is a swarm manager."""
    state, manager = node_state()
    if not manager:
        what = "is not part of a swarm" if state == "inactive" else f"is a swarm {state} worker"
        raise XorbError(f"This Docker engine {what}: {INIT_HINT}.")


def init(advertise_addr: str = "127.0.0.1") -> bool:
    """Make this engine a single-node swarm manager; False when it already was one."""
    state, manager = node_state()
    if manager:
        return False
    if state != "inactive":
        raise XorbError(
            f"This engine's swarm state is {state!r}: leave it first with "
            "`uv run inv swarm.leave --force`, then run `uv run inv swarm.init`."
        )
    with engine.docker_errors(
        f"Creating a swarm (docker swarm init --advertise-addr {advertise_addr})"
    ):
        engine.client().swarm.init(advertise_address=advertise_addr)
    return True


def leave(*, force: bool) -> bool:
    """Leave the swarm (its services go with it); False when there was none."""
    state, _ = node_state()
    if state == "inactive":
        return False
    if not force:
        raise XorbError(
            "Leaving the swarm removes every service it runs: repeat with --force to do it."
        )
    with engine.docker_errors("Leaving the swarm (docker swarm leave --force)"):
        engine.client().swarm.leave(force=True)
    return True


# --------------------------------------------------------------------------------------------
# Compose configuration -> swarm stack file (pure: no engine)
# --------------------------------------------------------------------------------------------


class Notes:
    """Remarks for the user: one line per remark, naming the services it concerns."""

    def __init__(self) -> None:
        self._services: dict[str, list[str]] = {}

    def add(self, service: str, message: str) -> None:
        self._services.setdefault(message, []).append(service)

    def lines(self) -> list[str]:
        return [f"{message} ({', '.join(s)})" for message, s in self._services.items()]


@dataclass
class Adapted:
    """A rendered compose configuration made deployable by ``docker stack deploy``."""

    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    """One line per change a user may care about (a dropped option, a translation)."""


def content_hash(path: Path) -> str:
    """The first 12 hex digits of the SHA-256 of a file (names of secrets and configs)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError as exc:
        raise XorbError(
            f"Cannot read {path} ({exc.strerror}): create it or fix its path."
        ) from None


def check_version(version: str) -> str:
    """``version`` if it is a valid version (:func:`xorb_tools.core.inputs.version`)."""
    return inputs.version(version)


def _bytes(value: object) -> int:
    """A compose size (``64m``, ``1g``, ``1048576``) in bytes."""
    text = str(value).strip().lower().removesuffix("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def tmpfs_mount(service: str, spec: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``/tmp:size=64m`` -> (a tmpfs mount, None). Swarm mounts a tmpfs with the mode of the
    image's directory under it, owned by root, and takes no ``uid``/``gid``/``mode``; a tmpfs
    that needs an owner becomes a tmpfs-backed local volume: (its mount, the volume)."""
    target, _, options = spec.partition(":")
    pairs = [o.strip().partition("=") for o in options.split(",") if o.strip()]
    size = next((_bytes(v) for k, _, v in pairs if k == "size"), None)
    if not any(k in ("uid", "gid") for k, _, _ in pairs):
        # mode: the tmpfs gets the mode of the image's directory (1777 for /tmp)
        mount: dict[str, Any] = {"type": "tmpfs", "target": target}
        if size is not None:
            mount["tmpfs"] = {"size": size}
        return mount, None
    key = _safe(f"{service}-tmpfs-{target.strip('/').replace('/', '-')}")
    opts = ",".join(f"{k}={v}" if sep else k for k, sep, v in pairs)
    volume = {"driver": "local", "driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": opts}}
    return {"type": "volume", "source": key, "target": target}, {key: volume}


def _escape(value: Any) -> Any:
    """Escape ``$`` in every string: the rendered values are final, stack deploy must not
    interpolate them a second time."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    return value


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "x"


def _owner(user: str | None) -> tuple[str, str] | None:
    """``"999:999"`` / ``"1000"`` -> (uid, gid); None when not numeric."""
    if not user:
        return None
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        return None
    return uid, gid or uid


@dataclass(frozen=True)
class AdaptOptions:
    """What :func:`adapt` needs besides the configuration."""

    stack: str
    version: str
    app_images: frozenset[str]
    """Repositories (``xorb/api``...) whose tag is the release version."""
    endpoint_mode: str | None = None
    """Overrides every service's ``deploy.endpoint_mode`` (None: what the files say)."""
    publish_mode: str | None = None
    """Overrides every published port's ``mode`` (None: what the files say)."""
    reservations: bool = True
    image_users: Mapping[str, str] = field(default_factory=dict)
    """Image reference -> the user it runs as, for services without ``user:``."""
    hasher: Callable[[Path], str] = content_hash


def adapt(config: Mapping[str, Any], options: AdaptOptions) -> Adapted:
    """Turn a rendered compose configuration into a swarm stack file (no engine calls)."""
    source = copy.deepcopy(dict(config))
    for spec in (source.get("services") or {}).values():
        nets = spec.get("networks")
        if isinstance(nets, dict):  # {"backend": null}: the nulls are meaningful
            spec["networks"] = {k: v or {} for k, v in nets.items()}
    source = _drop_none(source)
    result = Adapted({})
    notes = Notes()
    configs: dict[str, Any] = {
        k: _hashed(k, v, options, "config") for k, v in (source.get("configs") or {}).items()
    }
    tmpfs_volumes: dict[str, Any] = {}
    result.config["services"] = {
        name: _service(name, spec, options, configs, tmpfs_volumes, notes)
        for name, spec in sorted((source.get("services") or {}).items())
    }
    for key, extra in (("networks", {}), ("volumes", tmpfs_volumes)):
        objects = {k: _unnamed(v) for k, v in (source.get(key) or {}).items()} | extra
        if objects:
            result.config[key] = objects
    secrets = {
        k: _hashed(k, v, options, "secret") for k, v in (source.get("secrets") or {}).items()
    }
    if secrets:
        result.config["secrets"] = secrets
    if configs:
        result.config["configs"] = configs
    result.config = _escape(result.config)
    result.notes = notes.lines()
    return result


def _unnamed(raw: Any) -> dict[str, Any]:
    """A network/volume without the compose project's name: the stack prefixes its own."""
    spec: dict[str, Any] = dict(raw or {})
    if spec.get("external"):
        return spec
    return {k: v for k, v in spec.items() if k != "name" and v != {}}


def _hashed(key: str, raw: Any, options: AdaptOptions, kind: str) -> dict[str, Any]:
    """A file-based secret/config, named ``<stack>_<key>_<content hash>``."""
    spec: dict[str, Any] = dict(raw or {})
    if spec.get("external"):
        return spec
    if not spec.get("file"):
        raise XorbError(
            f"The {kind} {key} is not a file ({', '.join(sorted(spec)) or 'empty'}): swarm "
            f"takes {kind}s from files or existing swarm {kind}s; point it at a file."
        )
    path = Path(str(spec["file"]))
    return {"name": f"{options.stack}_{_safe(key)}_{options.hasher(path)}", "file": str(path)}


def _service(
    name: str,
    spec: dict[str, Any],
    options: AdaptOptions,
    configs: dict[str, Any],
    tmpfs_volumes: dict[str, Any],
    notes: Notes,
) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k in KEPT}
    dropped = sorted(k for k in spec if k not in KEPT | TRANSLATED | SILENT)
    if dropped:
        notes.add(name, f"swarm does not support {', '.join(dropped)}; dropped")
    if spec.get("depends_on"):
        notes.add(
            name, "depends_on is ignored by swarm: services retry until their dependencies answer"
        )
    if spec.get("security_opt"):
        opts = ", ".join(map(str, spec["security_opt"]))
        notes.add(name, f"swarm services do not apply security_opt ({opts}); dropped")
    if spec.get("group_add"):
        notes.add(name, "group_add dropped: each secret belongs to the service's user instead")
    _set_version(out, options)
    _mounts(name, spec, out, options, configs, tmpfs_volumes, notes)
    _give_secrets(out, spec, options)
    deploy = _deploy(name, spec, out, options, notes)
    if deploy:
        out["deploy"] = deploy
    return out


def repository(image: str) -> str:
    """``xorb/api:1.0`` -> ``xorb/api`` (a registry's port is not a tag)."""
    return image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image


def _set_version(out: dict[str, Any], options: AdaptOptions) -> None:
    """Release images: the tag is the version, and ``XORB_VERSION`` says it too."""
    repo = repository(str(out.get("image") or ""))
    if repo not in options.app_images:
        return
    out["image"] = f"{repo}:{options.version}"
    env = out.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value"] form
        env = dict(str(e).partition("=")[::2] for e in env)
    out["environment"] = {**env, "XORB_VERSION": options.version}


def _mounts(
    name: str,
    spec: Mapping[str, Any],
    out: dict[str, Any],
    options: AdaptOptions,
    configs: dict[str, Any],
    tmpfs_volumes: dict[str, Any],
    notes: Notes,
) -> None:
    """Volumes as swarm mounts: file binds -> configs, tmpfs/shm_size -> tmpfs mounts."""
    volumes: list[Any] = []
    refs = list(out.get("configs") or [])
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            volumes.append(volume)
            continue
        volume = {k: v for k, v in volume.items() if k != "bind"}
        source = Path(str(volume.get("source", "")))
        if volume.get("type") == "bind" and volume.get("read_only") and source.is_file():
            # A file each node needs: a swarm config (immutable, so named by its content).
            key = _safe(f"{name}_{source.name}")
            configs[key] = _hashed(key, {"file": str(source)}, options, "config")
            refs.append({"source": key, "target": str(volume["target"]), "mode": 0o444})
            continue
        if volume.get("type") == "bind" and not source.exists():
            # compose would create it empty; swarm refuses a task whose bind source is missing
            notes.add(name, f"bind mount {source} does not exist; dropped")
            continue
        if volume.get("type") == "bind":
            notes.add(name, f"{source} stays a bind mount: each node running it needs it")
        volumes.append(volume)
    for entry in spec.get("tmpfs") or []:
        mount, volume = tmpfs_mount(name, str(entry))
        volumes.append(mount)
        if volume:
            tmpfs_volumes.update(volume)
            notes.add(
                name,
                f"tmpfs {mount['target']} needs an owner, which swarm's tmpfs mounts lack: it "
                "is a tmpfs-backed local volume instead",
            )
    if spec.get("shm_size") is not None:
        shm = {"size": _bytes(spec["shm_size"])}
        volumes.append({"type": "tmpfs", "target": "/dev/shm", "tmpfs": shm})  # noqa: S108
    out.pop("volumes", None)
    if volumes:
        out["volumes"] = volumes
    if refs:
        out["configs"] = refs


def _give_secrets(out: dict[str, Any], spec: Mapping[str, Any], options: AdaptOptions) -> None:
    """Each secret belongs to the user the service runs as, mode 0400 (swarm's default is
    root-owned 0444: compose's group 10001 needs ``group_add``, which swarm lacks)."""
    user = spec.get("user") or options.image_users.get(str(out.get("image", "")))
    owner = _owner(str(user) if user else None)
    secrets = []
    for entry in out.get("secrets") or []:
        item = {"source": entry} if isinstance(entry, str) else dict(entry)
        if owner:
            item.update(uid=owner[0], gid=owner[1], mode=0o400)
        secrets.append(item)
    if secrets:
        out["secrets"] = secrets


def _deploy(
    name: str,
    spec: Mapping[str, Any],
    out: dict[str, Any],
    options: AdaptOptions,
    notes: Notes,
) -> dict[str, Any]:
    """The service's ``deploy:``: job mode, restart policy, ports, endpoint, resources."""
    deploy = dict(spec.get("deploy") or {})
    restart = str(spec.get("restart") or "")
    if restart == "no" and "mode" not in deploy:
        # A one-shot (migrations): a job, run again whenever its spec changes.
        deploy["mode"] = "replicated-job"
        deploy.setdefault(
            "restart_policy",
            {"condition": "on-failure", "delay": "5s", "max_attempts": JOB_RETRIES},
        )
    elif restart.startswith("on-failure") and "restart_policy" not in deploy:
        policy: dict[str, Any] = {"condition": "on-failure"}
        attempts = restart.partition(":")[2]
        if attempts.isdigit():
            policy["max_attempts"] = int(attempts)
        deploy["restart_policy"] = policy
    job = str(deploy.get("mode", "")).endswith("-job")
    if job:
        for key in ("replicas", "update_config", "rollback_config", "endpoint_mode"):
            deploy.pop(key, None)
    elif options.endpoint_mode:
        deploy["endpoint_mode"] = options.endpoint_mode
    ports = [p for p in (_port(name, p, options, notes) for p in out.pop("ports", [])) if p]
    if ports:
        out["ports"] = ports
    resources = deploy.get("resources") or {}
    for kind in ("limits", "reservations"):
        if isinstance(resources.get(kind), dict) and "cpus" in resources[kind]:
            resources[kind]["cpus"] = str(resources[kind]["cpus"])
    if not options.reservations and resources.pop("reservations", None):
        notes.add(name, f"CPU/memory reservations dropped ({RESERVATIONS_ENV}=off)")
    if not deploy.get("placement"):
        deploy.pop("placement", None)
    update = deploy.get("update_config") or {}
    if update.get("order") == "start-first" and any(p.get("mode") == "host" for p in ports):
        update["order"] = "stop-first"  # two tasks on a node cannot bind one host port
        notes.add(name, "host-mode ports: updates are stop-first")
    return deploy


def _port(name: str, raw: Any, options: AdaptOptions, notes: Notes) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        raise XorbError(f"{name}: cannot read the port {raw!r}: use the long port syntax.")
    port: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("app_protocol", "name")}
    host_ip = port.pop("host_ip", None)
    if host_ip and host_ip not in ("0.0.0.0", "::"):  # noqa: S104 (all addresses: publishable)
        notes.add(
            name,
            f"port {port.get('published')} is for {host_ip} only and swarm cannot bind "
            "an address, so it is not published (reach it from the stack's networks)",
        )
        return None
    if str(port.get("published", "")).isdigit():
        port["published"] = int(port["published"])
    if options.publish_mode:
        port["mode"] = options.publish_mode
    return port


# --------------------------------------------------------------------------------------------
# Engine state: raw inspect JSON (python-on-whales' models leave out what gets compared)
# --------------------------------------------------------------------------------------------


def _docker_json(*args: str) -> Any:
    """``docker ARGS`` through the configured client's argv, its stdout parsed as JSON."""
    cmd = [*engine.client().client_config.docker_cmd, *args]
    with engine.docker_errors(f"docker {' '.join(args[:2])}"):
        output = run(cmd)
    return json.loads(str(output) or "[]")


def _docker_lines(*args: str) -> list[str]:
    cmd = [*engine.client().client_config.docker_cmd, *args]
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
            ids = _docker_lines(
                "service", "ls", "-q", "--filter", f"label={NAMESPACE_LABEL}={stack}"
            )
            found = _docker_json("service", "inspect", *ids) if ids else []
            task_ids = _docker_lines("stack", "ps", "-q", "--no-trunc", stack) if ids else []
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


def _update_key(service: Mapping[str, Any]) -> str:
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
    if status and _update_key(service) != before:
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


# --------------------------------------------------------------------------------------------
# Capacity: reservations a swarm can hold
# --------------------------------------------------------------------------------------------


def capacity() -> tuple[float, int]:
    """(CPUs, memory bytes) of the swarm's ready, active nodes."""
    with engine.docker_errors("Listing the swarm's nodes"):
        nodes = engine.client().node.list()
    cpus, memory = 0.0, 0
    for node in nodes:
        if node.status.state != "ready" or node.spec.availability != "active":
            continue
        res = node.description.resources
        if res is None:
            continue
        cpus += (res.nano_cpus or 0) / 1e9
        memory += res.memory_bytes or 0
    return cpus, memory


def reserved(
    services_: Mapping[str, Any], counts: Mapping[str, int] | None = None
) -> tuple[float, int]:
    """(CPUs, bytes) a stack file reserves at its peak (start-first updates run one extra)."""
    cpus, memory = 0.0, 0
    for name, spec in services_.items():
        deploy = spec.get("deploy") or {}
        res = (deploy.get("resources") or {}).get("reservations") or {}
        if not res:
            continue
        replicas = (counts or {}).get(name, int(deploy.get("replicas", 1)))
        if (deploy.get("update_config") or {}).get("order") == "start-first":
            replicas += 1
        cpus += float(res.get("cpus", 0) or 0) * replicas
        memory += _bytes(res.get("memory", 0) or 0) * replicas
    return cpus, memory


def check_capacity(need: tuple[float, int], have: tuple[float, int]) -> None:
    """One sentence when ``need`` (CPUs, bytes) exceeds ``have``."""
    if need[0] > have[0] + 1e-9 or need[1] > have[1]:
        raise XorbError(
            f"The stack reserves {need[0]:g} CPUs and {need[1] / 2**30:.1f} GiB but the swarm's "
            f"nodes have {have[0]:g} CPUs and {have[1] / 2**30:.1f} GiB: add nodes, lower the "
            f"replicas, or set {RESERVATIONS_ENV}=off to deploy without reservations."
        )


# --------------------------------------------------------------------------------------------
# Deploy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a swarm deploy ended: ``converged``, ``rolled-back`` or ``failed``."""

    outcome: str
    detail: str
    digests: dict[str, str] = field(default_factory=dict)
    stack: str = ""
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome == "converged"


def _say(message: str) -> None:
    print(f"swarm: {message}", file=sys.stderr, flush=True)


def _check_mode(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    if value is not None and value not in allowed:
        raise XorbError(f"Unknown {what} {value!r}: use {' or '.join(allowed)}.")
    return value


def release_images(config: Mapping[str, Any], version: str) -> dict[str, str]:
    """``{service: xorb/<image>:<version>}`` for the services that run a release image."""
    repos = {s.image for s in services.load().services}
    out = {}
    for name, spec in (config.get("services") or {}).items():
        repo = repository(str(spec.get("image") or ""))
        if repo in repos:
            out[name] = f"{repo}:{version}"
    return out


def prepare(
    environment: str,
    version: str,
    *,
    secrets_dir: str | None = None,
    endpoint_mode: str | None = None,
    publish_mode: str | None = None,
) -> tuple[str, Adapted, dict[str, str]]:
    """Check everything and build the stack file: (stack, adapted config, image digests).

    Nothing on the engine changes; every problem is one :class:`XorbError`.
    """
    check_version(version)
    _check_mode(endpoint_mode, ENDPOINT_MODES, "endpoint mode")
    _check_mode(publish_mode, PUBLISH_MODES, "publish mode")
    name = stack_name(environment)
    require_manager()
    stack = stack_mod.open_stack(environment, secrets_dir=secrets_dir)
    config = stack_mod.preflight(stack)
    images = release_images(config, version)
    docker = engine.client()
    missing = sorted({ref for ref in images.values() if not docker.image.exists(ref)})
    if missing:
        raise XorbError(
            f"Image(s) {', '.join(missing)} are not in the local image store: build them with "
            f"`uv run inv build --environment {environment} --version {version}` (or pull them)."
        )
    with engine.docker_errors("Inspecting the release images"):
        inspected = {ref: docker.image.inspect(ref) for ref in set(images.values())}
    users = {ref: str(img.config.user or "") for ref, img in inspected.items()}
    reserve = os.environ.get(RESERVATIONS_ENV, "on").lower() not in ("off", "0", "no", "false")
    options = AdaptOptions(
        stack=name,
        version=version,
        app_images=frozenset(s.image for s in services.load().services),
        endpoint_mode=endpoint_mode,
        publish_mode=publish_mode,
        reservations=reserve,
        image_users=users,
    )
    stack_mod.switch_dir(environment, create=True)  # nginx's bind source, once checks passed
    adapted = adapt(config, options)
    adapted.notes[:0] = stack.notes
    check_capacity(reserved(adapted.config["services"]), capacity())
    digests = {svc: str(inspected[ref].id) for svc, ref in sorted(images.items())}
    return name, adapted, digests


def stack_file(stack: str, adapted: Adapted) -> Path:
    """Write the adapted configuration (JSON is YAML) where deploy state lives."""
    path = deploylog.state_dir() / f"swarm-{stack}.yml"
    path.write_text(json.dumps(adapted.config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def deploy(
    environment: str,
    version: str,
    *,
    secrets_dir: str | None = None,
    timeout: int = 600,
    endpoint_mode: str | None = None,
    publish_mode: str | None = None,
) -> Outcome:
    """Deploy ``environment`` at ``version`` as a swarm stack and wait for the rollout.

    Bad input raises :class:`XorbError` before anything changes. Otherwise the result is an
    :class:`Outcome` (also appended to the deploy log): ``converged``, ``rolled-back`` (swarm
    undid the update of a service whose new tasks failed or never became healthy) or
    ``failed`` (a job failed, an update paused, or ``timeout`` seconds passed).
    """
    stack, adapted, digests = prepare(
        environment,
        version,
        secrets_dir=secrets_dir,
        endpoint_mode=endpoint_mode,
        publish_mode=publish_mode,
    )
    for note in adapted.notes:
        _say(note)
    path = stack_file(stack, adapted)
    before = {name: _update_key(svc) for name, svc in snapshot(stack).services.items()}
    _say(f"deploying {stack} at {version} ({path})")
    with engine.docker_errors(f"Deploying the stack {stack} (docker stack deploy)"):
        engine.client().stack.deploy(stack, [path], resolve_image="never")
    states = wait(stack, adapted.config["services"], before, timeout=timeout, say=_say)
    outcome = _summarise(stack, version, states, timeout)
    if outcome[0] == "converged":
        prune(stack)
    result = Outcome(outcome[0], outcome[1], digests, stack, tuple(adapted.notes))
    deploylog.append(
        deploylog.Record(
            time=deploylog.now(),
            environment=environment,
            strategy="rolling",
            engine="swarm",
            version=version,
            digests=digests,
            outcome=result.outcome,
            detail=result.detail,
        )
    )
    return result


def _summarise(
    stack: str, version: str, states: list[ServiceState], timeout: float
) -> tuple[str, str]:
    rolled = [s for s in states if s.state == "rolled-back"]
    failed = [s for s in states if s.state == "failed"]
    if rolled:
        what = "; ".join(f"{s.name}: {s.detail}" for s in rolled)
        return "rolled-back", (
            f"the update of {', '.join(s.name for s in rolled)} to {version} was rolled back "
            f"({what}); the previous version keeps serving"
        )
    if failed:
        what = "; ".join(f"{s.name}: {s.detail}" for s in failed)
        return (
            "failed",
            f"the deploy of {stack} at {version} did not converge in {timeout:g}s ({what})",
        )
    return "converged", f"{stack} runs {version}: {len(states)} services converged"


def prune(stack: str) -> list[str]:
    """Remove the stack's secrets and configs no service spec (current or previous) uses."""
    snap = snapshot(stack)
    used: set[str] = set()
    for service in snap.services.values():
        for spec in (service.get("Spec"), service.get("PreviousSpec")):
            container = ((spec or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
            used |= {str(s.get("SecretName")) for s in container.get("Secrets") or []}
            used |= {str(c.get("ConfigName")) for c in container.get("Configs") or []}
    docker = engine.client()
    label = f"{NAMESPACE_LABEL}={stack}"
    with engine.docker_errors(f"Listing the secrets and configs of {stack}"):
        secrets = docker.secret.list(filters=[("label", label)])
        configs = docker.config.list(filters={"label": label})
    owned = [("secret", str(s.spec.name)) for s in secrets]
    owned += [("config", str(c.spec.name)) for c in configs]
    removed = []
    for kind, name in owned:
        if name in used:
            continue
        try:
            run([*docker.client_config.docker_cmd, kind, "rm", name])
        except DockerException:
            continue  # in use after all: keep it
        removed.append(name)
    return removed


# --------------------------------------------------------------------------------------------
# Scale, remove
# --------------------------------------------------------------------------------------------


def scale(
    environment: str, scales: Mapping[str, int], *, timeout: int = stack_mod.WAIT_TIMEOUT
) -> list[ServiceState]:
    """Set replica counts of the stack's services and wait until they run and are healthy."""
    require_manager()
    stack = stack_name(environment)
    snap = snapshot(stack)
    if not snap.services:
        raise XorbError(
            f"There is no swarm stack {stack}: deploy it first with `uv run inv deploy "
            f"--environment {environment} --engine swarm --version VERSION`."
        )
    unknown = sorted(set(scales) - set(snap.services))
    if unknown:
        raise XorbError(
            f"Unknown service(s) {', '.join(unknown)}: the stack {stack} has "
            f"{', '.join(sorted(snap.services))}."
        )
    jobs = [n for n in scales if "Replicated" not in (snap.services[n]["Spec"].get("Mode") or {})]
    if jobs:
        raise XorbError(f"{', '.join(jobs)} cannot be scaled: only replicated services can.")
    files = {n: _file_view(s) for n, s in snap.services.items()}
    check_capacity(reserved(files, scales), capacity())
    before = {n: _update_key(snap.services[n]) for n in scales}
    with engine.docker_errors(f"Scaling {stack} (docker service scale)"):
        engine.client().service.scale({f"{stack}_{n}": c for n, c in scales.items()}, detach=True)
    return wait(stack, scales, before, timeout=timeout, say=_say)


def _file_view(service: Mapping[str, Any]) -> dict[str, Any]:
    """A running service's reservations and replicas, in stack-file shape (for reserved())."""
    spec = service["Spec"]
    res = ((spec.get("TaskTemplate") or {}).get("Resources") or {}).get("Reservations") or {}
    deploy: dict[str, Any] = {
        "replicas": (spec.get("Mode", {}).get("Replicated") or {}).get("Replicas", 1),
        "update_config": {"order": (spec.get("UpdateConfig") or {}).get("Order", "stop-first")},
    }
    if res:
        deploy["resources"] = {
            "reservations": {
                "cpus": res.get("NanoCPUs", 0) / 1e9,
                "memory": res.get("MemoryBytes", 0),
            }
        }
    return {"deploy": deploy}


def remove(stack: str) -> None:
    """``docker stack rm`` (secrets, configs and networks of the stack go too)."""
    with engine.docker_errors(f"Removing the stack {stack}"):
        engine.client().stack.remove(stack)
