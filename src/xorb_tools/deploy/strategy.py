"""One deploy, whatever its strategy and engine (``inv deploy``): the input checks, the
dispatch to a recreate (``compose up --wait`` of the whole stack), a blue-green switch or a
swarm rolling update, and one deploy-log record for each, whatever its outcome.

This module never builds: images a fresh host lacks are built by the ``build`` callable the
task hands in (``inv build``'s code, announced), and an explicit version is deployed only
as it was built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xorb_tools.core import engine, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import bluegreen, deploylog, swarm
from xorb_tools.deploy import stack as stack_mod

Say = Callable[[str], object]
"""Where a deploy's notes go as they happen (the tasks print them)."""


@dataclass(frozen=True)
class Result:
    """What a deploy shows the user when it is done: one table."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]


def check(environment: str, strategy: str, engine_name: str, version: str | None) -> None:
    """Every input, before the engine is asked: one sentence for the first that is wrong."""
    services.load().check_environment(environment)
    bluegreen.check_strategy(strategy)
    bluegreen.check_engine(engine_name)
    if version is not None or strategy == "blue-green":
        bluegreen.check_version(version)


def record(
    environment: str,
    strategy: str,
    engine_name: str,
    version: str,
    digests: dict[str, str],
    outcome: str,
    detail: str = "",
) -> None:
    """One line of the deploy log."""
    deploylog.append(
        deploylog.Record(
            deploylog.now(), environment, strategy, engine_name, version, digests, outcome, detail
        )
    )


def deploy(
    environment: str,
    *,
    strategy: str = "recreate",
    engine_name: str = "compose",
    version: str | None = None,
    timeout: int = stack_mod.WAIT_TIMEOUT,
    drain: float = bluegreen.DRAIN_SECONDS,
    secrets_dir: str | None = None,
    registry: str | None = None,
    build: stack_mod.ImageBuilder | None = None,
    say: Say = print,
) -> Result:
    """Check, dispatch, log. A failure raises one sentence after its record is written."""
    check(environment, strategy, engine_name, version)
    if registry is not None and engine_name != "swarm":
        raise XorbError("--registry is for swarm deploys: add --engine swarm, or drop it.")
    if engine_name == "swarm":
        tag = version or stack_mod.image_tag(environment)
        outcome = deploy_swarm(
            environment, tag, secrets_dir=secrets_dir, timeout=timeout, registry=registry
        )
        if not outcome.ok:
            raise XorbError(f"The swarm deploy of {tag} {outcome.outcome}: {outcome.detail}")
        return Result(
            f"swarm deploy of {tag}: {environment}",
            ("outcome", "detail"),
            [(outcome.outcome, outcome.detail or "-")],
        )
    if strategy == "recreate":
        return recreate(environment, version, timeout, secrets_dir, build, say)
    assert version is not None  # check() demands it for blue-green
    return blue_green(environment, version, timeout, drain, secrets_dir, build)


def deploy_swarm(
    environment: str,
    version: str,
    *,
    secrets_dir: str | None = None,
    timeout: int = 600,
    registry: str | None = None,
) -> swarm.Outcome:
    """A swarm rolling update (:func:`xorb_tools.deploy.swarm.deploy`), logged."""
    outcome = swarm.deploy(
        environment, version, secrets_dir=secrets_dir, timeout=timeout, registry=registry
    )
    record(
        environment, "rolling", "swarm", version, outcome.digests, outcome.outcome, outcome.detail
    )
    return outcome


def recreate(
    environment: str,
    version: str | None,
    timeout: int,
    secrets_dir: str | None,
    build: stack_mod.ImageBuilder | None,
    say: Say = print,
) -> Result:
    """The stack's own api with ``compose up --wait`` (blue-green colours retired)."""
    stack = stack_mod.open_stack(environment, secrets_dir=secrets_dir)
    for note in stack.notes:
        say(note)
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
        rows = stack_mod.deploy(stack, timeout=timeout, build=build)
    except XorbError as exc:
        record(environment, "recreate", "compose", tag, bluegreen.digests(refs), "failed", str(exc))
        raise
    retired = bluegreen.retire(environment, secrets_dir=secrets_dir)
    detail = f"retired colours {', '.join(retired)}" if retired else ""
    record(environment, "recreate", "compose", tag, bluegreen.digests(refs), "ok", detail)
    return Result(
        f"{stack.project}: health per container",
        ("container", "service", "state", "health"),
        [(r.name, r.service, r.state, r.health) for r in rows],
    )


def blue_green(
    environment: str,
    version: str,
    timeout: int,
    drain: float,
    secrets_dir: str | None,
    build: stack_mod.ImageBuilder | None,
) -> Result:
    """The API at ``version`` beside the live colour, then nginx switched to it."""
    stack_mod.compose_file(environment)
    bluegreen.require_image(version)
    try:
        outcome = bluegreen.deploy(
            environment,
            version,
            secrets_dir=secrets_dir,
            timeout=timeout,
            drain=drain,
            build=build,
        )
    except bluegreen.NothingChanged:
        raise
    except XorbError as exc:
        refs = [bluegreen.image_ref(version)]
        record(
            environment,
            "blue-green",
            "compose",
            version,
            bluegreen.digests(refs),
            "failed",
            str(exc),
        )
        raise
    previous = f", {outcome.previous} stopped" if outcome.previous else ""
    record(
        environment,
        "blue-green",
        "compose",
        version,
        outcome.digests,
        "ok",
        f"{outcome.colour} live{previous}",
    )
    return colour_table(outcome, f"{version} deployed")


def colour_table(outcome: bluegreen.Outcome, what: str) -> Result:
    """The live colour after a blue-green deploy or rollback."""
    return Result(
        f"{what}: {outcome.environment}",
        ("live colour", "version", "previous (stopped, kept for rollback)", "seconds"),
        [(outcome.colour, outcome.version, outcome.previous or "-", f"{outcome.seconds:.0f}")],
    )


def rollback(environment: str, timeout: float, drain: float, secrets_dir: str | None) -> Result:
    """A blue-green environment switched back to its previous colour, logged."""
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
        record(environment, "blue-green", "compose", version, {}, "failed", f"rollback: {exc}")
        raise
    previous = f", {outcome.previous} stopped" if outcome.previous else ""
    record(
        environment,
        "blue-green",
        "compose",
        outcome.version,
        outcome.digests,
        "rolled-back",
        f"{outcome.colour} live again{previous}",
    )
    return colour_table(outcome, f"rolled back to {outcome.version}")
