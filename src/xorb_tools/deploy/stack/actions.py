"""What the stack tasks do on the engine: up (waiting for health), down, restart, logs, exec,
migrate, deploy, stats and secrets.init; images a stack lacks are built only by the
builder the tasks hand in."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xorb_tools.core import engine, names, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import secrets_init
from xorb_tools.deploy.stack.checks import check_services, preflight, render, secret_files
from xorb_tools.deploy.stack.config import (
    GRAFANA,
    ROOT,
    WAIT_TIMEOUT,
    ImageBuilder,
    Stack,
    open_stack,
    secrets_folder,
    switch_dir,
)


@dataclass(frozen=True)
class ContainerHealth:
    """One row of the health report."""

    name: str
    service: str
    state: str
    health: str


def health(stack: Stack) -> list[ContainerHealth]:
    """State and health of every container of the project (one-shot ones included)."""
    with engine.docker_errors(f"Listing the containers of {stack.project}"):
        containers = stack.docker.compose.ps(all=True)
    rows = []
    for c in containers:
        labels = c.config.labels or {}
        status = c.state.health.status if c.state.health else "-"
        rows.append(
            ContainerHealth(
                c.name,
                labels.get("com.docker.compose.service", "?"),
                str(c.state.status),
                str(status or "-"),
            )
        )
    return sorted(rows, key=lambda r: r.name)


def up(
    stack: Stack,
    names: Sequence[str] = (),
    *,
    wait: bool = True,
    scales: Mapping[str, int] | None = None,
    timeout: int = WAIT_TIMEOUT,
    build: ImageBuilder | None = None,
) -> None:
    """Start (or update) ``names`` (default all), waiting until every one is healthy;
    missing service images are built by ``build`` (see :func:`ensure_images`)."""
    config = preflight(stack)
    check_services(config, list(dict.fromkeys([*names, *(scales or {})])))
    ensure_images(stack, config, build)  # a fresh host has no service images yet
    switch_dir(stack.environment, create=True)  # nginx mounts it
    say(f"starting {stack.project} ({stack.file.relative_to(ROOT)})")
    with engine.docker_errors(f"Starting {stack.project}"):
        stack.docker.compose.up(
            list(names) or None,
            detach=True,
            wait=wait,
            wait_timeout=timeout if wait else None,
            scales=dict(scales or {}),
            remove_orphans=True,
            pull="never",
            quiet=True,
        )


def down(stack: Stack, *, volumes: bool = False) -> None:
    """Stop and remove the project's containers and networks (and volumes with ``volumes``)."""
    with engine.docker_errors(f"Removing {stack.project}"):
        stack.docker.compose.down(remove_orphans=True, volumes=volumes, quiet=True)


def restart(stack: Stack, names: Sequence[str] = ()) -> None:
    config = preflight(stack)
    check_services(config, names)
    with engine.docker_errors(f"Restarting {stack.project}"):
        stack.docker.compose.restart(list(names) or None)


def logs(
    stack: Stack, names: Sequence[str] = (), *, follow: bool = False, tail: str = "100"
) -> None:
    """Print the project's logs (streamed; ``follow`` keeps following)."""
    with engine.docker_errors(f"Reading the logs of {stack.project}"):
        output = stack.docker.compose.logs(list(names), tail=tail, follow=follow, stream=True)
        for _source, chunk in output:
            sys.stdout.write(for_terminal(chunk.decode(errors="replace")))
        sys.stdout.flush()


_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")


def for_terminal(text: str, tty: bool | None = None) -> str:
    """``text`` as is on a terminal; without escape sequences and control characters
    (compose prefixes each log line with ``ESC[2K``) when stdout is a pipe or a file."""
    if sys.stdout.isatty() if tty is None else tty:
        return text
    return _CONTROL.sub("", text)


def execute(stack: Stack, service: str, command: Sequence[str], *, index: int = 1) -> None:
    """Run ``command`` (default a shell) in one container of ``service``, attached."""
    check_services(render(stack), [service])
    argv = list(command) or ["/bin/sh"]
    with engine.docker_errors(f"Running {argv[0]} in {stack.project}/{service}"):
        stack.docker.compose.execute(service, argv, index=index, tty=sys.stdin.isatty())


def missing_images(stack: Stack, config: Mapping[str, Any]) -> list[str]:
    """The XORB service images the stack runs that are not in the local store."""
    ours = {s.image for s in services.load().services}
    refs = {
        str(svc.get("image"))
        for svc in (config.get("services") or {}).values()
        if str(svc.get("image", "")).rpartition(":")[0] in ours
    }
    docker = engine.client()
    return sorted(r for r in refs if not docker.image.exists(r))


def ensure_images(stack: Stack, config: Mapping[str, Any], build: ImageBuilder | None) -> list[str]:
    """The service images the stack runs that were missing, built by ``build`` (announced
    in one line); without ``build``, one sentence saying how to build them. This package
    never builds by itself: the tasks hand in ``inv build``'s code."""
    absent = missing_images(stack, config)
    if not absent:
        return []
    if build is None:
        raise XorbError(
            f"Image(s) {', '.join(absent)} are not here: build them with "
            f"`uv run inv build --environment {stack.environment}`."
        )
    say(f"building missing image(s): {', '.join(absent)}")
    build(stack.environment)
    return absent


def migrate(stack: Stack) -> None:
    """Run the one-shot migration (starting PostgreSQL first) and remove its container."""
    say("migrating the database")
    with engine.docker_errors(f"Migrating {stack.project} (service migrate)"):
        stack.docker.compose.run("migrate", remove=True, tty=False)


def deploy(
    stack: Stack, *, timeout: int = WAIT_TIMEOUT, build: ImageBuilder | None = None
) -> list[ContainerHealth]:
    """Build what is missing, migrate, start everything with ``--wait``; return the health."""
    config = preflight(stack)
    ensure_images(stack, config, build)
    started = time.monotonic()
    migrate(stack)
    up(stack, timeout=timeout)  # the images are there now
    say(f"{stack.project} is up in {time.monotonic() - started:.0f}s")
    return health(stack)


@dataclass(frozen=True)
class Usage:
    name: str
    cpu: str
    memory: str
    net_io: str


def stats(environment: str | None = None) -> list[Usage]:
    """CPU and memory of every running XORB compose container (of ``environment``)."""
    engine.require_daemon()
    docker = engine.client()
    label = "com.docker.compose.project"
    wanted = {names.project_name(environment)} if environment else None
    with engine.docker_errors("Listing containers"):
        containers = [
            c
            for c in docker.container.list(filters={"label": label})
            if (c.config.labels or {}).get(label, "").startswith("xorb-")
            and (wanted is None or (c.config.labels or {}).get(label) in wanted)
        ]
        if not containers:
            return []
        rows = docker.stats(containers)
    mib = 1024 * 1024
    return sorted(
        (
            Usage(
                str(s.container_name),
                f"{s.cpu_percentage:.1f}%",
                f"{s.memory_used / mib:.0f} / {s.memory_limit / mib:.0f} MiB",
                f"{s.net_download / mib:.1f} / {s.net_upload / mib:.1f} MiB",
            )
            for s in rows
        ),
        key=lambda u: u.name,
    )


def init_secrets(
    environment: str, secrets_dir: str | Path | None = None, *, force: bool = False
) -> tuple[list[secrets_init.Created], list[str]]:
    """Create the secret files ``environment``'s stack mounts and its rules require;
    return what happened to each and notes (see :func:`secrets_init.create`)."""
    from common import secret_rules

    rules = secret_rules.load()
    names = list(secrets_init.required_names(rules, environment))
    folder = secrets_folder(secrets_dir)
    try:
        stack = open_stack(environment, secrets_dir=folder, resolve_images=False)
    except XorbError:
        services.load().check_environment(environment)  # unknown environment: say so
        stack = None  # an environment without a compose stack: the rules alone
    if stack is not None:
        stack.profiles.append(GRAFANA)  # its secrets too, whether or not Grafana runs now
        files = secret_files(render(stack))
        foreign = [n for n, p in files.items() if p.parent != folder]
        if foreign:
            raise XorbError(f"Secret file(s) {', '.join(foreign)} are not in {folder}.")
        names += [n for n in files if n not in names]
    return secrets_init.create(folder, names, rules, environment=environment, force=force)


def say(message: str) -> None:
    print(f"stack: {message}", file=sys.stderr, flush=True)
