"""Deploy, rollback and retire: a new colour started beside the live one, checked, switched to
and the old one drained and stopped (kept for ``inv rollback``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import stack as stack_mod
from xorb_tools.deploy.bluegreen.colours import (
    ColourStack,
    colour_stack,
    container_health,
    containers,
    digests,
    image_ref,
    require_image,
    service_of,
    smoke,
    wait_healthy,
)
from xorb_tools.deploy.bluegreen.state import (
    COLOURS,
    DRAIN_SECONDS,
    NOT_BASE,
    SERVICE,
    TIMEOUT,
    UPSTREAM_FILE,
    NothingChanged,
    alias,
    check_version,
    load_state,
    locked,
    other,
    save_state,
    say,
    state_path,
)
from xorb_tools.deploy.bluegreen.switch import nginx_container, reload_nginx, switch


@dataclass(frozen=True)
class Outcome:
    """What a deploy or rollback did (for the task's table and the deploy log)."""

    environment: str
    colour: str
    version: str
    previous: str | None
    digests: dict[str, str]
    seconds: float


def ensure_base(
    base: stack_mod.Stack, timeout: int, build: stack_mod.ImageBuilder | None = None
) -> None:
    """Start the stack's services other than api and nginx unless they all run healthy."""
    config = stack_mod.preflight(base)
    wanted = sorted(set(config.get("services") or {}) - NOT_BASE)
    current = {
        service_of(c, ""): c
        for c in containers(base, all_=False)
        if container_health(c) in ("healthy", "none")
    }
    if all(name in current for name in wanted):
        return
    stack_mod.ensure_images(base, config, build)
    stack_mod.switch_dir(base.environment, create=True)  # nginx mounts it
    say(f"starting {base.project}: {', '.join(wanted)}")
    with engine.docker_errors(f"Starting {base.project}"):
        base.docker.compose.up(
            wanted, detach=True, wait=True, wait_timeout=timeout, pull="never", quiet=True
        )


def _replicas(config: dict[str, Any]) -> int:
    spec = (config.get("services") or {}).get(SERVICE) or {}
    return int((spec.get("deploy") or {}).get("replicas") or 1)


def _retire_stack_api(base: stack_mod.Stack) -> None:
    """After the first blue-green switch: the stack's own api (recreate strategy) goes."""
    if any(service_of(c) == SERVICE for c in containers(base)):
        say(f"removing {base.project}'s own api (a colour serves now)")
        with engine.docker_errors(f"Removing {base.project}'s api"):
            base.docker.compose.rm([SERVICE], stop=True)


def _drain_and_stop(stack: ColourStack, drain: float) -> None:
    say(f"draining colour {stack.colour} for {drain:.0f}s, then stopping it")
    time.sleep(drain)
    with engine.docker_errors(f"Stopping {stack.project}"):
        stack.docker.compose.stop()


def _remove(stack: ColourStack) -> None:
    with engine.docker_errors(f"Removing {stack.project}"):
        stack.docker.compose.down(remove_orphans=True, timeout=5, quiet=True)


def deploy(
    environment: str,
    version: str,
    *,
    secrets_dir: str | Path | None = None,
    timeout: float = TIMEOUT,
    drain: float = DRAIN_SECONDS,
    build: stack_mod.ImageBuilder | None = None,
) -> Outcome:
    """Deploy ``xorb/api:<version>`` to the idle colour and switch nginx to it (missing
    images of the stack's other services are built by ``build``, when given)."""
    check_version(version)
    stack_mod.compose_file(environment)  # an environment without a stack: one sentence
    engine.require_daemon()
    ref = require_image(version)
    started = time.monotonic()
    with locked(environment):
        base = stack_mod.open_stack(environment, secrets_dir=secrets_dir)
        state = load_state(environment)
        say(f"checking {base.project}")
        ensure_base(base, int(max(timeout, stack_mod.WAIT_TIMEOUT)), build)
        live = state.live  # the state on disk decides; its containers may be down
        target = other(live)
        new = colour_stack(base, target, version)
        config = stack_mod.preflight(new)
        say(f"starting colour {target} ({ref}) beside {live or 'nothing'}")
        try:
            with engine.docker_errors(f"Starting {new.project}"):
                new.docker.compose.up(
                    detach=True,
                    remove_orphans=True,
                    pull="never",
                    quiet=True,
                    force_recreate=True,
                )
            running = wait_healthy(new, _replicas(config), timeout)
            say(f"colour {target}: {len(running)} container(s) healthy; smoke-testing them")
            smoke(new, running, version)
        except XorbError as exc:
            say(f"removing colour {target}: {exc}")
            _remove(new)
            save_state(environment, state.forget(target))
            keeps = f"colour {live} keeps serving" if live else "nothing was switched"
            raise XorbError(f"The deploy of {version} failed: {exc}; {keeps}.") from None
        say(f"switching nginx to {alias(target)}")
        switch(base, target, timeout)
        save_state(environment, state.switched(target, version))
        say(f"nginx serves colour {target}; the old workers have finished")
        if live is not None:
            _drain_and_stop(colour_stack(base, live, state.versions.get(live, "")), drain)
        else:
            _retire_stack_api(base)
    return Outcome(environment, target, version, live, digests([ref]), time.monotonic() - started)


def rollback(
    environment: str,
    *,
    secrets_dir: str | Path | None = None,
    timeout: float = TIMEOUT,
    drain: float = DRAIN_SECONDS,
) -> Outcome:
    """Switch back to the previous colour while its containers still exist."""
    stack_mod.compose_file(environment)
    engine.require_daemon()
    started = time.monotonic()
    with locked(environment):
        state = load_state(environment)
        base = stack_mod.open_stack(environment, secrets_dir=secrets_dir)
        target = state.previous
        version = state.versions.get(target or "", "")
        back = colour_stack(base, target, version) if target and version else None
        if back is None or not containers(back):
            raise NothingChanged(
                f"Nothing to roll back to in {environment}: no previous blue-green colour is "
                "left (deploy a version with `inv deploy --strategy blue-green --version V`)."
            )
        assert target is not None
        say(f"starting colour {target} ({image_ref(version)}) again")
        with engine.docker_errors(f"Starting {back.project}"):
            back.docker.compose.start()
        running = wait_healthy(back, len(containers(back)), timeout)
        smoke(back, running, version)
        say(f"switching nginx to {alias(target)}")
        switch(base, target, timeout)
        live = state.live
        save_state(environment, state.switched(target, version))
        if live is not None:
            _drain_and_stop(colour_stack(base, live, state.versions.get(live, "")), drain)
    return Outcome(
        environment,
        target,
        version,
        live,
        digests([image_ref(version)]),
        time.monotonic() - started,
    )


def retire(environment: str, *, secrets_dir: str | Path | None = None) -> list[str]:
    """Back to the stack's own ``api`` (recreate strategy): nginx off the colours, remove them.

    Call it once the stack's ``api`` is up; returns the colours removed.
    """
    path = stack_mod.switch_dir(environment, create=True) / UPSTREAM_FILE
    base = stack_mod.open_stack(environment, secrets_dir=secrets_dir, resolve_images=False)
    removed = []
    with locked(environment):
        if path.exists():
            path.unlink()
            nginx = nginx_container(base)
            if nginx is not None:
                reload_nginx(nginx, TIMEOUT)
        for colour in COLOURS:
            stack = colour_stack(base, colour, "production")
            if containers(stack):
                _remove(stack)
                removed.append(colour)
        if state_path(environment).exists():
            state_path(environment).unlink()
    return removed


def live_colour(environment: str) -> str | None:
    """The colour nginx sends traffic to (from the saved state)."""
    return load_state(environment).live
