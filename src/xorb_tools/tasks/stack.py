"""Stack tasks: up, down, logs, ps, restart, scale, exec, stats and secrets.init (deploy:
:mod:`xorb_tools.tasks.deploy`).

Services are named with ``--service`` (repeatable or comma-separated): invoke reads a bare
word after a task as the next task's name. ``inv exec`` and ``inv scale`` also take what
follows a standalone ``--`` (``inv exec api -- python -V``, ``inv scale worker=4 -- api=2``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools import build as build_mod
    from xorb_tools.core import engine as engine_mod
    from xorb_tools.core import inputs
    from xorb_tools.deploy import stack as stack_mod
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    inputs = lazy("xorb_tools.core.inputs")
    build_mod = lazy("xorb_tools.build")
    engine_mod = lazy("xorb_tools.core.engine")
    stack_mod = lazy("xorb_tools.deploy.stack")
from xorb_tools.core.errors import XorbError
from xorb_tools.tasks._util import console, split_names, table, user_errors

ENV_HELP = "development | production (the stacks in compose/)"
SERVICE_HELP = "service (repeatable or comma-separated; default all)"
SECRETS_HELP = "folder of secret files (default: secrets/ in the repository)"


def _open(
    environment: str, secrets_dir: str | None = None, names: Sequence[str] = ()
) -> stack_mod.Stack:
    """The stack, its images resolved; the service ``names`` are checked first, against
    the compose file alone, so a typo is one sentence before the engine is asked."""
    if names:
        bare = stack_mod.open_stack(environment, secrets_dir=secrets_dir, resolve_images=False)
        stack_mod.check_services(stack_mod.render(bare), names)
    stack = stack_mod.open_stack(environment, secrets_dir=secrets_dir)
    for note in stack.notes:
        console.print(note)
    return stack


def _health_table(stack: stack_mod.Stack) -> None:
    table(
        f"{stack.project}",
        ["container", "service", "state", "health"],
        [(r.name, r.service, r.state, r.health) for r in stack_mod.health(stack)],
    )


@task(
    iterable=["service"],
    auto_shortflags=False,
    help={
        "environment": ENV_HELP,
        "service": SERVICE_HELP,
        "no_wait": "return once started instead of waiting until every service is healthy",
        "timeout": "seconds to wait for healthy services (default 300)",
        "secrets_dir": SECRETS_HELP,
    },
)
@user_errors
def up(
    c: Context,
    environment: str = "development",
    service: list[str] | None = None,
    no_wait: bool = False,
    timeout: int = 300,  # stack.WAIT_TIMEOUT (a literal: test_task_start checks it)
    secrets_dir: str | None = None,
) -> None:
    """Start an environment's stack and wait until every service is healthy."""
    names = split_names(service)
    stack = _open(environment, secrets_dir, names)
    stack_mod.up(stack, names, wait=not no_wait, timeout=timeout, build=build_mod.build_environment)
    _health_table(stack)


@task(
    help={
        "environment": ENV_HELP,
        "volumes": "also remove the stack's volumes (its data)",
    }
)
@user_errors
def down(c: Context, environment: str = "development", volumes: bool = False) -> None:
    """Stop and remove an environment's containers and networks (--volumes: data too)."""
    stack = stack_mod.open_stack(environment, resolve_images=False)
    engine_mod.require_daemon()
    stack_mod.down(stack, volumes=volumes)
    console.print(f"{stack.project} removed" + (" with its volumes" if volumes else ""))


@task(
    iterable=["service"],
    auto_shortflags=False,
    help={
        "environment": ENV_HELP,
        "service": SERVICE_HELP,
        "follow": "keep following the logs",
        "tail": "lines per container to start from (default 100, or 'all')",
    },
)
@user_errors
def logs(
    c: Context,
    environment: str = "development",
    service: list[str] | None = None,
    follow: bool = False,
    tail: str = "100",
) -> None:
    """Show (or --follow) the logs of an environment's services."""
    stack = stack_mod.open_stack(environment, resolve_images=False)
    engine_mod.require_daemon()
    stack_mod.logs(stack, split_names(service), follow=follow, tail=tail)


@task(help={"environment": ENV_HELP})
@user_errors
def ps(c: Context, environment: str = "development") -> None:
    """List an environment's containers with their state and health."""
    stack = stack_mod.open_stack(environment, resolve_images=False)
    engine_mod.require_daemon()
    _health_table(stack)


@task(
    iterable=["service"],
    auto_shortflags=False,
    help={"environment": ENV_HELP, "service": SERVICE_HELP, "secrets_dir": SECRETS_HELP},
)
@user_errors
def restart(
    c: Context,
    environment: str = "development",
    service: list[str] | None = None,
    secrets_dir: str | None = None,
) -> None:
    """Restart an environment's services (default all)."""
    names = split_names(service)
    stack = _open(environment, secrets_dir, names)
    stack_mod.restart(stack, names)
    _health_table(stack)


@task(
    auto_shortflags=False,
    help={
        "scales": "SERVICE=N, comma-separated (e.g. worker=4,api=2; more after a standalone --)",
        "environment": ENV_HELP,
        "engine": "compose (default: this host's stack) | swarm (the environment's swarm stack)",
        "timeout": "seconds to wait until the replicas run and are healthy (default 300)",
        "secrets_dir": SECRETS_HELP,
    },
)
@user_errors
def scale(
    c: Context,
    scales: str,
    environment: str = "development",
    engine: str = "compose",
    timeout: int = 300,  # stack.WAIT_TIMEOUT (a literal: test_task_start checks it)
    secrets_dir: str | None = None,
) -> None:
    """Set replica counts: `inv scale worker=4` or `inv scale api=5 --engine swarm`."""
    inputs.engine(engine)
    pairs = split_names([scales]) + tuple(shlex.split(c.remainder or ""))
    wanted = stack_mod.parse_scales(pairs)
    if engine == "swarm":
        from xorb_tools.deploy import swarm

        states = swarm.scale(environment, wanted, timeout=timeout)
        table(
            f"{swarm.stack_name(environment)}: replicas",
            ["service", "state", "detail"],
            [(s.name, s.state, s.detail) for s in states],
        )
        if any(s.state != "converged" for s in states):
            raise XorbError(
                f"Scaling did not finish within {timeout}s: see the table (`docker service ps`)."
            )
        return
    stack = _open(environment, secrets_dir, list(wanted))
    stack_mod.up(
        stack, list(wanted), scales=wanted, timeout=timeout, build=build_mod.build_environment
    )
    _health_table(stack)


@task(
    name="exec",
    auto_shortflags=False,
    help={
        "service": "service to run in (e.g. api)",
        "environment": ENV_HELP,
        "cmd": "command line to run (default: the command after --, else /bin/sh)",
        "index": "replica number when the service has several (default 1)",
    },
)
@user_errors
def exec_(
    c: Context,
    service: str,
    environment: str = "development",
    cmd: str | None = None,
    index: int = 1,
) -> None:
    """Run a command (default a shell) in a service's container: `inv exec api -- sh`."""
    argv = shlex.split(cmd) if cmd else shlex.split(c.remainder or "")
    stack = stack_mod.open_stack(environment, resolve_images=False)
    engine_mod.require_daemon()
    stack_mod.execute(stack, service, argv, index=index)


@task(help={"environment": "only this environment's containers (default: every XORB stack)"})
@user_errors
def stats(c: Context, environment: str | None = None) -> None:
    """CPU, memory and network use of the running stack containers (one sample)."""
    rows = stack_mod.stats(environment)
    table(
        "Container usage",
        ["container", "CPU", "memory", "net in / out"],
        [(u.name, u.cpu, u.memory, u.net_io) for u in rows] or [("-", "-", "-", "-")],
    )


@task(
    name="init",
    help={
        "environment": "development | staging | production | test",
        "secrets_dir": SECRETS_HELP,
        "force": "replace the existing files that break their rule (empty, too short, a "
        "placeholder, not PEM); files that meet it are never replaced",
    },
)
@user_errors
def secrets_init(
    c: Context,
    environment: str = "development",
    secrets_dir: str | None = None,
    force: bool = False,
) -> None:
    """Create the secret files an environment needs (random, 0640 group 10001, never replaced
    unless --force and they break their rule)."""
    created, notes = stack_mod.init_secrets(environment, secrets_dir, force=force)
    table(
        f"Secrets for {environment}",
        ["secret", "file", "state"],
        [(s.name, str(s.path), s.state) for s in created],
    )
    for note in notes:
        console.print(f"note: {note}")
    weak = [s.name for s in created if s.state.startswith("exists, but")]
    if weak:
        raise XorbError(
            f"{len(weak)} existing secret(s) break their rule ({', '.join(weak)}): "
            f"replace them with `inv secrets.init --environment {environment} --force`."
        )
