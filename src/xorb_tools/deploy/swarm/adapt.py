"""Compose configuration to a swarm stack file (pure: no engine): what ``docker stack deploy``
reads, the release's version on every XORB image, jobs for one-shot services, notes for
what swarm ignores. Mounts, configs and secrets: :mod:`~xorb_tools.deploy.swarm.mounts`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from xorb_tools.core.errors import XorbError
from xorb_tools.deploy.swarm.mounts import drop_none, escape, give_secrets, service_mounts
from xorb_tools.deploy.swarm.spec import Adapted, AdaptOptions, Notes, hashed, unnamed

RESERVATIONS_ENV = "XORB_SWARM_RESERVATIONS"
"""``off`` drops CPU/memory reservations (a small single-node swarm cannot hold them)."""
JOB_RETRIES = 10
"""Attempts a one-shot service (a swarm job) gets: its dependencies may still be starting."""
DRAIN_ENV = "DRAIN_SECONDS"
DRAIN_SECONDS = 6
"""How long a XORB task keeps serving after SIGTERM (the API reads it; a compose file's
value wins). Swarm takes a task out of its DNS 2 s before it signals it, and nginx holds the
addresses it resolved for up to its resolver's ``valid=5s``: without the drain, a request
could still be sent to a replica that has closed its port or is gone (502/504)."""
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


def adapt(config: Mapping[str, Any], options: AdaptOptions) -> Adapted:
    """Turn a rendered compose configuration into a swarm stack file (no engine calls)."""
    source = copy.deepcopy(dict(config))
    for spec in (source.get("services") or {}).values():
        nets = spec.get("networks")
        if isinstance(nets, dict):  # {"backend": null}: the nulls are meaningful
            spec["networks"] = {k: v or {} for k, v in nets.items()}
    source = drop_none(source)
    result = Adapted({})
    notes = Notes()
    configs: dict[str, Any] = {
        k: hashed(k, v, options, "config") for k, v in (source.get("configs") or {}).items()
    }
    tmpfs_volumes: dict[str, Any] = {}
    result.config["services"] = {
        name: _service(name, spec, options, configs, tmpfs_volumes, notes)
        for name, spec in sorted((source.get("services") or {}).items())
    }
    for key, extra in (("networks", {}), ("volumes", tmpfs_volumes)):
        objects = {k: unnamed(v) for k, v in (source.get(key) or {}).items()} | extra
        if objects:
            result.config[key] = objects
    secrets = {k: hashed(k, v, options, "secret") for k, v in (source.get("secrets") or {}).items()}
    if secrets:
        result.config["secrets"] = secrets
    if configs:
        result.config["configs"] = configs
    result.config = escape(result.config)
    result.notes = notes.lines()
    return result


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
    service_mounts(name, spec, out, options, configs, tmpfs_volumes, notes)
    give_secrets(out, spec, options)
    deploy = _deploy(name, spec, out, options, notes)
    if deploy:
        out["deploy"] = deploy
    return out


def repository(image: str) -> str:
    """``xorb/api:1.0`` -> ``xorb/api`` (a registry's port is not a tag)."""
    return image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image


def _set_version(out: dict[str, Any], options: AdaptOptions) -> None:
    """Release images: the tag is the version, and ``XORB_VERSION`` says it too; they drain
    for :data:`DRAIN_SECONDS` after SIGTERM unless the files say otherwise."""
    repo = repository(str(out.get("image") or ""))
    if repo not in options.app_images:
        return
    out["image"] = f"{repo}:{options.version}"
    env = out.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value"] form
        env = dict(str(e).partition("=")[::2] for e in env)
    out["environment"] = {DRAIN_ENV: str(DRAIN_SECONDS), **env, "XORB_VERSION": options.version}


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
