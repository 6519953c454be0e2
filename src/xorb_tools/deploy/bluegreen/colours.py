"""The colour stacks: one compose project per API colour beside the environment's stack, their
images, containers and health, and the smoke test run from inside a new colour."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from python_on_whales import Container
from python_on_whales.exceptions import DockerException

from xorb_tools.core import engine, names, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import stack as stack_mod
from xorb_tools.deploy.bluegreen.state import API_PORT, COLOUR_FILE, POLL, SERVICE, NothingChanged


@dataclass
class ColourStack(stack_mod.Stack):
    """One colour's compose project (``xorb-<env>-<colour>``)."""

    colour: str = "blue"

    @property
    def project(self) -> str:
        return f"{names.project_name(self.environment)}-{self.colour}"


def colour_stack(base: stack_mod.Stack, colour: str, version: str) -> ColourStack:
    variables = {
        services.PROJECT_VAR: services.load().namespace,
        "XORB_SECRETS": base.variables["XORB_SECRETS"],
        "XORB_ENVIRONMENT": base.environment,
        "XORB_BASE_PROJECT": base.project,
        "XORB_COLOUR": colour,
        "XORB_VERSION": version,
    }
    return ColourStack(base.environment, COLOUR_FILE, variables, colour=colour)


def image_ref(version: str) -> str:
    return services.load().service(SERVICE).ref(version)


def require_image(version: str) -> str:
    """``xorb/api:<version>``, or one sentence on how to make it."""
    ref = image_ref(version)
    if not engine.image_exists(ref):
        raise NothingChanged(
            f"Image {ref} is not here: build it with `uv run inv build --service api "
            f"--version {version}` (tags {ref}) or tag an existing one "
            f"(`docker tag {image_ref('production')} {ref}`)."
        )
    return ref


def digests(refs: Sequence[str]) -> dict[str, str]:
    """``{ref: image id}`` of local images (the deploy log's digests)."""
    docker = engine.client()
    out = {}
    for ref in refs:
        with contextlib.suppress(DockerException):
            out[ref] = str(docker.image.inspect(ref).id)
    return out


def containers(stack: stack_mod.Stack, *, all_: bool = True) -> list[Container]:
    with engine.docker_errors(f"Listing the containers of {stack.project}"):
        return list(
            stack.docker.compose.ps([SERVICE] if isinstance(stack, ColourStack) else None, all=all_)
        )


def service_of(c: Container, default: str = "") -> str:
    return (c.config.labels or {}).get("com.docker.compose.service", default)


def container_health(c: Container) -> str:
    return str(c.state.health.status) if c.state.health and c.state.health.status else "none"


def wait_healthy(stack: ColourStack, expected: int, timeout: float) -> list[Container]:
    """Every container of ``stack`` healthy (``expected`` of them), or one sentence why not."""
    deadline = time.monotonic() + timeout
    found: list[Container] = []
    while True:
        found = containers(stack)
        states = {c.name: (str(c.state.status), container_health(c)) for c in found}
        dead = [f"{n} is {s} ({h})" for n, (s, h) in states.items() if s in ("exited", "dead")]
        sick = [f"{n} is unhealthy" for n, (_, h) in states.items() if h == "unhealthy"]
        if dead or sick:
            raise XorbError(
                f"colour {stack.colour} failed its health check: {'; '.join(dead + sick)}"
            )
        healthy = [c for c in found if states[c.name] == ("running", "healthy")]
        if len(healthy) >= expected and len(healthy) == len(found):
            return healthy
        if time.monotonic() >= deadline:
            waiting = ", ".join(f"{n} is {h}" for n, (_, h) in sorted(states.items())) or "none"
            raise XorbError(
                f"colour {stack.colour} did not become healthy within {timeout:.0f}s ({waiting})"
            )
        time.sleep(POLL)


SMOKE = """
import json, sys, urllib.request
version, port, bad = sys.argv[1], sys.argv[2], []
for host in sys.argv[3:]:
    for path in ("/health", "/ready"):
        url = f"http://{host}:{port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                body = json.load(answer)
        except Exception as exc:
            bad.append(f"{url}: {exc}")
            continue
        if path == "/health" and body.get("version") != version:
            bad.append(f"{url} reports version {body.get('version')!r}, not {version!r}")
print("; ".join(bad))
sys.exit(1 if bad else 0)
"""
"""Run with the new image's python in one new container: ``VERSION PORT HOST...``."""
SMOKE_GRACE = 15.0
"""Seconds a healthy colour gets to pass its smoke test (a fresh replica may still be
connecting to its dependencies, /ready is 503 until then)."""


def smoke(
    stack: ColourStack, running: Sequence[Container], version: str, grace: float = SMOKE_GRACE
) -> None:
    """``/health`` (reporting ``version``) and ``/ready`` of every container, directly.

    By address on the stack's edge network (no name lookup), from inside the first one.
    """
    edge = f"{stack.variables['XORB_BASE_PROJECT']}_edge"
    hosts = []
    for c in running:
        network = (c.network_settings.networks or {}).get(edge)
        hosts.append(network.ip_address if network and network.ip_address else c.name)
    names = [running[0].name, *hosts]
    deadline = time.monotonic() + grace
    while True:
        try:
            engine.client().container.execute(
                names[0], ["python3", "-c", SMOKE, version, str(API_PORT), *names[1:]]
            )
            return
        except DockerException as exc:
            detail = (exc.stdout or exc.stderr or "").strip().splitlines()
            reason = detail[-1] if detail else f"exit {exc.return_code}"
        if time.monotonic() >= deadline:
            raise XorbError(f"colour {stack.colour} failed the smoke test: {reason}")
        time.sleep(1.0)
