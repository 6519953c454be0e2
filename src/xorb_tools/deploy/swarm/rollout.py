"""A swarm release: prepare the stack file, ``docker stack deploy`` (a rolling update), wait
for convergence or swarm's rollback, record it in the deploy log; scale and remove."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run

from xorb_tools.core import engine, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import deploylog
from xorb_tools.deploy import stack as stack_mod
from xorb_tools.deploy.swarm.adapt import RESERVATIONS_ENV, adapt, repository
from xorb_tools.deploy.swarm.capacity import capacity, check_capacity, reserved
from xorb_tools.deploy.swarm.converge import (
    NAMESPACE_LABEL,
    ServiceState,
    snapshot,
    update_key,
    wait,
)
from xorb_tools.deploy.swarm.node import require_manager, stack_name
from xorb_tools.deploy.swarm.spec import Adapted, AdaptOptions, check_version

ENDPOINT_MODES = ("vip", "dnsrr")
PUBLISH_MODES = ("ingress", "host")


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
    :class:`Outcome` (:mod:`xorb_tools.deploy.strategy` logs it): ``converged``,
    ``rolled-back`` (swarm undid the update of a service whose new tasks failed or never
    became healthy) or ``failed`` (a job failed, an update paused, or ``timeout`` seconds
    passed).
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
    before = {name: update_key(svc) for name, svc in snapshot(stack).services.items()}
    _say(f"deploying {stack} at {version} ({path})")
    with engine.docker_errors(f"Deploying the stack {stack} (docker stack deploy)"):
        engine.client().stack.deploy(stack, [path], resolve_image="never")
    states = wait(stack, adapted.config["services"], before, timeout=timeout, say=_say)
    outcome = _summarise(stack, version, states, timeout)
    if outcome[0] == "converged":
        prune(stack)
    return Outcome(outcome[0], outcome[1], digests, stack, tuple(adapted.notes))


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
    before = {n: update_key(snap.services[n]) for n in scales}
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
