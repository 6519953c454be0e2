"""Deploy tasks: ``inv deploy`` (the collection's default), ``deploy.history``, ``rollback``
and ``test``. Every deploy and rollback that got past its input checks is one record in the
deploy log (:mod:`xorb_tools.deploy.deploylog`), whatever its outcome.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from xorb_tools.core import services
from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools import build as build_mod
    from xorb_tools.core import engine
    from xorb_tools.deploy import bluegreen, deploylog, smoke
    from xorb_tools.deploy import stack as stack_mod
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    build_mod = lazy("xorb_tools.build")
    bluegreen = lazy("xorb_tools.deploy.bluegreen")
    deploylog = lazy("xorb_tools.deploy.deploylog")
    engine = lazy("xorb_tools.core.engine")
    smoke = lazy("xorb_tools.deploy.smoke")
    stack_mod = lazy("xorb_tools.deploy.stack")
from xorb_tools.core.errors import XorbError
from xorb_tools.tasks._util import console, table, user_errors

ENV_HELP = "staging | production (the stacks in compose/; development works too)"
SECRETS_HELP = "folder of secret files (default: secrets/ in the repository)"


def _record(
    environment: str,
    strategy: str,
    engine: str,
    version: str,
    digests: dict[str, str],
    outcome: str,
    detail: str = "",
) -> None:
    deploylog.append(
        deploylog.Record(
            deploylog.now(), environment, strategy, engine, version, digests, outcome, detail
        )
    )


def _recreate(environment: str, version: str | None, timeout: int, secrets_dir: str | None) -> str:
    """The stack's own api with ``compose up --wait`` (colours retired); returns the tag."""
    stack = stack_mod.open_stack(environment, secrets_dir=secrets_dir)
    for note in stack.notes:
        console.print(note)
    if version:
        stack.variables["XORB_IMAGE_TAG"] = version
    tag = stack.variables["XORB_IMAGE_TAG"]
    refs = [s.ref(tag) for s in services.load().services]
    absent = [ref for ref in refs if version and not engine.image_exists(ref)]
    if absent:  # an explicit version is deployed as built, never built or pulled here
        raise bluegreen.NothingChanged(
            f"Image(s) {', '.join(absent)} are not here: build them with "
            f"`uv run inv build --environment {environment} --version {version}`."
        )
    try:
        rows = stack_mod.deploy(stack, timeout=timeout, build=build_mod.build_environment)
    except XorbError as exc:
        _record(
            environment, "recreate", "compose", tag, bluegreen.digests(refs), "failed", str(exc)
        )
        raise
    retired = bluegreen.retire(environment, secrets_dir=secrets_dir)
    detail = f"retired colours {', '.join(retired)}" if retired else ""
    _record(environment, "recreate", "compose", tag, bluegreen.digests(refs), "ok", detail)
    table(
        f"{stack.project}: health per container",
        ["container", "service", "state", "health"],
        [(r.name, r.service, r.state, r.health) for r in rows],
    )
    return tag


def _swarm(environment: str, version: str | None, timeout: int, secrets_dir: str | None) -> None:
    """``docker stack deploy`` with a rolling update (:mod:`xorb_tools.deploy.swarm` logs it)."""
    # The swarm engine's module, loaded only when asked for.
    try:
        swarm = importlib.import_module("xorb_tools.deploy.swarm")
    except ModuleNotFoundError:
        raise bluegreen.NothingChanged(
            "The swarm engine (xorb_tools.deploy.swarm) is not in this checkout: "
            "use --engine compose."
        ) from None
    tag = version or stack_mod.image_tag(environment)
    result = swarm.deploy(
        environment=environment, version=tag, secrets_dir=secrets_dir, timeout=timeout
    )
    table(
        f"swarm deploy of {tag}: {environment}",
        ["outcome", "detail"],
        [(result.outcome, result.detail or "-")],
    )
    if not result.ok:
        raise XorbError(f"The swarm deploy of {tag} {result.outcome}: {result.detail}")


def _show(outcome: bluegreen.Outcome, what: str) -> None:
    table(
        f"{what}: {outcome.environment}",
        ["live colour", "version", "previous (stopped, kept for rollback)", "seconds"],
        [(outcome.colour, outcome.version, outcome.previous or "-", f"{outcome.seconds:.0f}")],
    )


@task(
    auto_shortflags=False,
    help={
        "environment": ENV_HELP,
        "strategy": "recreate (default: compose up --wait of the whole stack) | blue-green "
        "(API beside the live one, then switch nginx)",
        "engine": "compose (default, this host) | swarm (docker stack deploy, rolling update)",
        "version": "image tag to deploy (xorb/api:VERSION; blue-green and swarm need it)",
        "timeout": "seconds to wait for healthy services (default 300)",
        "drain": "blue-green: seconds between the switch and stopping the old colour (default 10)",
        "secrets_dir": SECRETS_HELP,
    },
)
@user_errors
def deploy(
    c: Context,
    environment: str = "production",
    strategy: str = "recreate",
    engine: str = "compose",
    version: str | None = None,
    timeout: int = 300,  # stack.WAIT_TIMEOUT (a literal: test_task_start checks it)
    drain: int = 10,  # bluegreen.DRAIN_SECONDS
    secrets_dir: str | None = None,
) -> None:
    """Deploy an environment (recreate, blue-green or a swarm rolling update) and log it."""
    services.load().check_environment(environment)
    bluegreen.check_strategy(strategy)
    bluegreen.check_engine(engine)
    if version is not None or strategy == "blue-green":
        bluegreen.check_version(version)
    if engine == "swarm":
        _swarm(environment, version, timeout, secrets_dir)
        return
    if strategy == "recreate":
        _recreate(environment, version, timeout, secrets_dir)
        return
    assert version is not None
    stack_mod.compose_file(environment)
    bluegreen.require_image(version)
    try:
        outcome = bluegreen.deploy(
            environment,
            version,
            secrets_dir=secrets_dir,
            timeout=timeout,
            drain=drain,
            build=build_mod.build_environment,
        )
    except bluegreen.NothingChanged:
        raise
    except XorbError as exc:
        refs = [bluegreen.image_ref(version)]
        _record(environment, strategy, engine, version, bluegreen.digests(refs), "failed", str(exc))
        raise
    _record(
        environment,
        strategy,
        engine,
        version,
        outcome.digests,
        "ok",
        f"{outcome.colour} live" + (f", {outcome.previous} stopped" if outcome.previous else ""),
    )
    _show(outcome, f"{version} deployed")


@task(help={"environment": "only this environment's deploys (default: all)"})
@user_errors
def history(c: Context, environment: str | None = None) -> None:
    """Print the deploy log: time, environment, strategy, engine, version, digests, outcome."""
    if environment is not None:
        services.load().check_environment(environment)
    records = deploylog.read(environment)
    table(
        f"Deploy history ({deploylog.log_path()})",
        ["time", "environment", "strategy", "engine", "version", "digests", "outcome", "detail"],
        [
            (
                r.time,
                r.environment,
                r.strategy,
                r.engine,
                r.version,
                " ".join(
                    f"{k.split('/')[-1]}@{v.removeprefix('sha256:')[:12]}"
                    for k, v in r.digests.items()
                )
                or "-",
                r.outcome,
                r.detail or "-",
            )
            for r in records
        ]
        or [("-",) * 8],
    )


@task(
    auto_shortflags=False,
    help={
        "environment": ENV_HELP,
        "timeout": "seconds the previous colour gets to become healthy (default 120)",
        "drain": "seconds between the switch and stopping the current colour (default 10)",
        "secrets_dir": SECRETS_HELP,
    },
)
@user_errors
def rollback(
    c: Context,
    environment: str = "production",
    timeout: int = 120,  # bluegreen.TIMEOUT
    drain: int = 10,  # bluegreen.DRAIN_SECONDS
    secrets_dir: str | None = None,
) -> None:
    """Switch a blue-green environment back to the previous colour (while it exists)."""
    services.load().check_environment(environment)
    stack_mod.compose_file(environment)
    engine.require_daemon()  # nothing was tried, so nothing goes into the deploy log
    state = bluegreen.load_state(environment)
    try:
        outcome = bluegreen.rollback(
            environment, secrets_dir=secrets_dir, timeout=timeout, drain=drain
        )
    except bluegreen.NothingChanged:
        raise
    except XorbError as exc:
        version = state.versions.get(state.previous or "", "?")
        _record(environment, "blue-green", "compose", version, {}, "failed", f"rollback: {exc}")
        raise
    _record(
        environment,
        "blue-green",
        "compose",
        outcome.version,
        outcome.digests,
        "rolled-back",
        f"{outcome.colour} live again"
        + (f", {outcome.previous} stopped" if outcome.previous else ""),
    )
    _show(outcome, f"rolled back to {outcome.version}")


@task(name="test", help={"environment": ENV_HELP, "secrets_dir": SECRETS_HELP})
@user_errors
def smoke_test(c: Context, environment: str = "staging", secrets_dir: str | None = None) -> None:
    """Smoke-test a deployed environment through its nginx: health, ready, a job round trip."""
    services.load().check_environment(environment)
    results = smoke.run(environment, secrets_dir)
    table(
        f"Smoke test of {environment}",
        ["check", "result", "detail"],
        [(r.name, "ok" if r.ok else "FAILED", r.detail) for r in results],
    )
    smoke.failed(results)


def collection() -> Collection:
    """``deploy`` (default task: the deploy itself) and ``deploy.history``."""
    ns = Collection("deploy")
    ns.add_task(deploy, default=True)
    ns.add_task(history)
    return ns
