"""The switch: nginx's upstream file rewritten, checked with ``nginx -t`` and reloaded gracefully,
waiting until every old worker has exited."""

from __future__ import annotations

import time

from python_on_whales import Container
from python_on_whales.exceptions import DockerException

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import stack as stack_mod
from xorb_tools.deploy.bluegreen.state import (
    POLL,
    UPSTREAM_FILE,
    alias,
    render_upstream,
    say,
    write_atomic,
)

WORKERS_SCRIPT = (
    'for d in /proc/[0-9]*; do c=$(tr "\\0" " " < "$d/cmdline" 2>/dev/null) || continue; '
    'case "$c" in *"worker process"*) echo "${d#/proc/} $c";; esac; done'
)


def nginx_container(stack: stack_mod.Stack) -> Container | None:
    with engine.docker_errors(f"Listing nginx of {stack.project}"):
        found = stack.docker.compose.ps(["nginx"])
    running = [c for c in found if str(c.state.status) == "running"]
    return running[0] if running else None


def nginx_workers(nginx: Container) -> dict[str, bool]:
    """``{pid: shutting down}`` of nginx's worker processes."""
    with engine.docker_errors("Listing nginx's workers"):
        out = str(engine.client().container.execute(nginx, ["sh", "-c", WORKERS_SCRIPT]) or "")
    workers = {}
    for line in out.splitlines():
        pid, _, cmd = line.partition(" ")
        workers[pid] = "shutting down" in cmd
    return workers


def reload_nginx(nginx: Container, timeout: float) -> None:
    """``nginx -t`` then ``nginx -s reload``; wait until every old worker has exited."""
    docker = engine.client()
    try:
        docker.container.execute(nginx, ["nginx", "-t", "-q"])
    except DockerException as exc:
        raise XorbError(
            f"nginx rejects the new configuration: {(exc.stderr or exc.stdout or '').strip()}"
        ) from None
    before = set(nginx_workers(nginx))
    with engine.docker_errors("Reloading nginx (nginx -s reload)"):
        docker.container.execute(nginx, ["nginx", "-s", "reload"])
    deadline = time.monotonic() + timeout
    while True:
        now = nginx_workers(nginx)
        if now and not before & set(now):  # the old workers have finished their requests
            return
        if time.monotonic() >= deadline:
            raise XorbError(
                f"nginx's old workers were still running {timeout:.0f}s after the reload."
            )
        time.sleep(POLL)


def switch(base: stack_mod.Stack, colour: str, timeout: float) -> None:
    """Point nginx at ``colour``: write the upstream file, then reload (or start) nginx."""
    path = stack_mod.switch_dir(base.environment, create=True) / UPSTREAM_FILE
    before = path.read_text(encoding="utf-8") if path.exists() else None
    write_atomic(path, render_upstream(colour))
    nginx = nginx_container(base)
    try:
        if nginx is None:
            say(f"starting nginx on {alias(colour)}")
            with engine.docker_errors(f"Starting nginx of {base.project}"):
                base.docker.compose.up(
                    ["nginx"],
                    detach=True,
                    wait=True,
                    wait_timeout=int(timeout),
                    dependencies=False,
                    pull="never",
                    quiet=True,
                )
        else:
            reload_nginx(nginx, timeout)
    except XorbError:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, before)
        raise
