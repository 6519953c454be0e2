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

from xorb_tools.core import engine, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import deploylog
from xorb_tools.deploy import stack as stack_mod
from xorb_tools.deploy.swarm import distribute
from xorb_tools.deploy.swarm.adapt import RESERVATIONS_ENV, adapt, repository
from xorb_tools.deploy.swarm.capacity import capacity, check_capacity, reserved
from xorb_tools.deploy.swarm.converge import (
    ServiceState,
    snapshot,
    update_key,
    wait,
)
from xorb_tools.deploy.swarm.node import manager, require_manager, stack_name
from xorb_tools.deploy.swarm.operate import prune
from xorb_tools.deploy.swarm.placement import pin_images
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


@dataclass
class Prepared:
    """A checked release: the stack, its file, what to put on the nodes first."""

    stack: str
    adapted: Adapted
    digests: dict[str, str]
    """Service -> image ID (one node) or the registry's manifest digest (several)."""
    registry: str | None
    """Where the images go first (more than one node), else None."""
    push: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    """Labels the single node gets (placement)."""
    nodes: list[distribute.Node] = field(default_factory=list)


def prepare(
    environment: str,
    version: str,
    *,
    secrets_dir: str | None = None,
    endpoint_mode: str | None = None,
    publish_mode: str | None = None,
    registry: str | None = None,
) -> Prepared:
    """Check everything and build the stack file.

    Nothing on the engine, the swarm or the registry changes; every problem is one
    :class:`XorbError`.
    """
    check_version(version)
    _check_mode(endpoint_mode, ENDPOINT_MODES, "endpoint mode")
    _check_mode(publish_mode, PUBLISH_MODES, "publish mode")
    name = stack_name(environment)
    require_manager()
    found = distribute.nodes()
    target = None
    if len(found) > 1 or registry:
        target = distribute.check_registry(registry, services.load().registry)
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
    labels = distribute.check_labels(adapted.config, found)
    check_capacity(reserved(adapted.config["services"]), capacity())
    digests = {svc: str(inspected[ref].id) for svc, ref in sorted(images.items())}
    push = distribute.check_images(adapted.config) if target else []
    return Prepared(name, adapted, digests, target, push, labels, found)


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
    registry: str | None = None,
) -> Outcome:
    """Deploy ``environment`` at ``version`` as a swarm stack and wait for the rollout.

    On more than one node (or with ``registry``) the images go through the registry and
    the stack file pins them by digest (:mod:`~xorb_tools.deploy.swarm.distribute`).

    Bad input raises :class:`XorbError` before anything changes. Otherwise the result is an
    :class:`Outcome` (:mod:`xorb_tools.deploy.strategy` logs it): ``converged``,
    ``rolled-back`` (swarm undid the update of a service whose new tasks failed or never
    became healthy) or ``failed`` (a job failed, an update paused, or ``timeout`` seconds
    passed).
    """
    ready = prepare(
        environment,
        version,
        secrets_dir=secrets_dir,
        endpoint_mode=endpoint_mode,
        publish_mode=publish_mode,
        registry=registry,
    )
    stack, adapted, digests = ready.stack, ready.adapted, ready.digests
    for note in adapted.notes:
        _say(note)
    if ready.labels:
        distribute.add_labels(ready.nodes[0], ready.labels, _say)
    if ready.registry:
        pinned = distribute.push_all(ready.push, ready.registry, _say)
        releases = release_images(adapted.config, version)
        digests = {svc: pinned[ref].rpartition("@")[2] for svc, ref in sorted(releases.items())}
        adapted.config = pin_images(adapted.config, pinned)
    path = stack_file(stack, adapted)
    before = {name: update_key(svc) for name, svc in snapshot(stack).services.items()}
    _say(f"deploying {stack} at {version} ({path})")
    with engine.docker_errors(f"Deploying the stack {stack} (docker stack deploy)"):
        manager().stack.deploy(stack, [path], resolve_image="never")
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
