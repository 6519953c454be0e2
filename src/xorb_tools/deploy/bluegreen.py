"""Blue-green deploys of the API on one host with compose (``inv deploy --strategy blue-green``).

The environment's stack (project ``xorb-<env>``) keeps the data services, the orchestrator,
the worker and nginx. Each API colour is its own compose project, ``xorb-<env>-blue`` and
``xorb-<env>-green``, from ``compose/docker-compose.bluegreen.yml``: the stack's ``api``
definition, image ``xorb/api:<version>`` (``XORB_VERSION`` in the container, reported by
``/health``), on the stack's networks with the alias ``api-<colour>``.

A deploy of version V:

1. checks its input (environment, V as a docker tag, ``xorb/api:V`` present) and starts the
   stack's other services when they are not running;
2. starts the idle colour with V beside the live one and waits (``timeout``) until every
   container of it is healthy, then smoke-tests each container directly on the edge network
   (``/health`` answers with V, ``/ready`` is 200) from inside the new colour;
3. writes ``set $api_upstream http://api-<colour>:8000;`` into ``upstream.conf`` of the
   folder nginx includes (:func:`xorb_tools.deploy.stack.switch_dir`), checks it with ``nginx -t``
   and reloads nginx gracefully (``nginx -s reload``): old workers finish their requests,
   new ones proxy to the new colour; the deploy waits until every old worker has exited;
4. drains: waits ``drain`` seconds more, then stops the old colour (SIGTERM: gunicorn
   finishes what it is serving within its graceful timeout).

The old colour is **stopped but kept** (containers present) until the next deploy replaces
it, so ``inv rollback`` can start it again, check it and switch back. A new colour that never
becomes healthy or fails the smoke test is removed, nginx is never touched, the old colour
keeps serving and the deploy fails with the reason; since the idle colour was replaced, no
rollback target is left after that.

Which colour is live (and which one is the previous) is on disk, in
``<state dir>/bluegreen/<env>.json`` (:func:`xorb_tools.deploy.deploylog.state_dir`), so a later
process sees it; the colour containers also carry ``io.xorb.colour`` and ``io.xorb.version``
labels. ``inv deploy --strategy recreate`` (the stack's own ``api``) retires both colours.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import filelock
from python_on_whales import Container
from python_on_whales.exceptions import DockerException

from xorb_tools.core import engine, inputs, names, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import deploylog
from xorb_tools.deploy import stack as stack_mod

COLOURS = ("blue", "green")
STRATEGIES = ("recreate", "blue-green")
ENGINES = ("compose", "swarm")
COLOUR_FILE = stack_mod.COMPOSE_DIR / "docker-compose.bluegreen.yml"
UPSTREAM_FILE = "upstream.conf"
API_PORT = 8000
SERVICE = "api"
DRAIN_SECONDS = 10
"""Default wait between the switch and stopping the old colour (``--drain``)."""
TIMEOUT = 120
"""Default seconds the new colour gets to become healthy (``--timeout``)."""
POLL = 0.5
# The stack's services a colour does not replace; the rest must run before a deploy.
NOT_BASE = frozenset({SERVICE, "nginx", "migrate"})
# A docker tag: https://docs.docker.com/reference/cli/docker/image/tag/


# --------------------------------------------------------------------------------------------
# Pure parts (unit-tested without an engine)
# --------------------------------------------------------------------------------------------


class NothingChanged(XorbError):
    """A refusal before anything was touched (bad input, nothing to roll back to, busy)."""


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise NothingChanged(f"Unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}.")
    return strategy


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise NothingChanged(f"Unknown engine {name!r}: use one of {', '.join(ENGINES)}.")
    return name


def check_version(version: str | None) -> str:
    """``version`` if it is a valid version (the ``xorb/api`` tag to deploy)."""
    if not version:
        raise NothingChanged("Name the version to deploy: --version V (the tag of xorb/api:V).")
    try:
        return inputs.version(version)
    except XorbError as exc:
        raise NothingChanged(str(exc)) from None


def other(colour: str | None) -> str:
    """The colour that is not ``colour`` (blue when none is live)."""
    return "green" if colour == "blue" else "blue"


def alias(colour: str) -> str:
    """The network name nginx proxies to for ``colour``."""
    return f"{SERVICE}-{colour}"


def render_upstream(colour: str, port: int = API_PORT) -> str:
    """The nginx snippet (included in ``location /``) that sends traffic to ``colour``."""
    if colour not in COLOURS:
        raise XorbError(f"Unknown colour {colour!r}: use blue or green.")
    return (
        "# Written by `inv deploy --strategy blue-green`: the live colour.\n"
        f"set $api_upstream http://{alias(colour)}:{port};\n"
    )


def parse_upstream(text: str) -> str | None:
    """The colour an ``upstream.conf`` points at, if any."""
    match = re.search(r"http://api-(blue|green):\d+;", text)
    return match.group(1) if match else None


@dataclass
class State:
    """What is deployed: the live colour, the previous one (rollback target) and versions."""

    live: str | None = None
    previous: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    updated: str = ""

    def switched(self, colour: str, version: str) -> State:
        """The state after ``colour`` (running ``version``) went live."""
        previous = self.live if self.live != colour else self.previous
        return State(colour, previous, {**self.versions, colour: version}, deploylog.now())

    def forget(self, colour: str) -> State:
        """The state after ``colour``'s containers were removed."""
        versions = {k: v for k, v in self.versions.items() if k != colour}
        live = None if self.live == colour else self.live
        previous = None if self.previous == colour else self.previous
        return State(live, previous, versions, deploylog.now())


def state_path(environment: str) -> Path:
    return deploylog.state_dir() / "bluegreen" / f"{names.project_name(environment)}.json"


def load_state(environment: str) -> State:
    """The saved state of ``environment`` (empty when nothing was deployed blue-green)."""
    path = state_path(environment)
    if not path.exists():
        return State()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        state = State(**raw)
    except (ValueError, TypeError) as exc:
        raise XorbError(
            f"The blue-green state {path} is damaged ({exc}): remove it and deploy again."
        ) from None
    for colour in (state.live, state.previous):
        if colour is not None and colour not in COLOURS:
            raise XorbError(f"The blue-green state {path} names colour {colour!r}: remove it.")
    return state


def save_state(environment: str, state: State) -> None:
    """Write the state atomically (a reader sees the old or the new file, never half)."""
    write_atomic(state_path(environment), json.dumps(asdict(state), indent=2) + "\n")


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    tmp.replace(path)


@contextlib.contextmanager
def locked(environment: str) -> Iterator[None]:
    """One blue-green change of ``environment`` at a time (a second one fails at once)."""
    path = state_path(environment).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(path)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise NothingChanged(
            f"Another deploy or rollback of {environment} is running: wait for it to end."
        ) from None
    try:
        yield
    finally:
        lock.release()


# --------------------------------------------------------------------------------------------
# The colour stacks
# --------------------------------------------------------------------------------------------


@dataclass
class ColourStack(stack_mod.Stack):
    """One colour's compose project (``xorb-<env>-<colour>``)."""

    colour: str = "blue"

    @property
    def project(self) -> str:
        return f"{names.project_name(self.environment)}-{self.colour}"


def colour_stack(base: stack_mod.Stack, colour: str, version: str) -> ColourStack:
    variables = {
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
            f"(`docker tag xorb/api:production {ref}`)."
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


def _service_of(c: Container, default: str = "") -> str:
    return (c.config.labels or {}).get("com.docker.compose.service", default)


def _health(c: Container) -> str:
    return str(c.state.health.status) if c.state.health and c.state.health.status else "none"


def wait_healthy(stack: ColourStack, expected: int, timeout: float) -> list[Container]:
    """Every container of ``stack`` healthy (``expected`` of them), or one sentence why not."""
    deadline = time.monotonic() + timeout
    found: list[Container] = []
    while True:
        found = containers(stack)
        states = {c.name: (str(c.state.status), _health(c)) for c in found}
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


# --------------------------------------------------------------------------------------------
# nginx
# --------------------------------------------------------------------------------------------

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
            _say(f"starting nginx on {alias(colour)}")
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


# --------------------------------------------------------------------------------------------
# Deploy, rollback, retire
# --------------------------------------------------------------------------------------------


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
        _service_of(c, ""): c
        for c in containers(base, all_=False)
        if _health(c) in ("healthy", "none")
    }
    if all(name in current for name in wanted):
        return
    stack_mod.ensure_images(base, config, build)
    stack_mod.switch_dir(base.environment, create=True)  # nginx mounts it
    _say(f"starting {base.project}: {', '.join(wanted)}")
    with engine.docker_errors(f"Starting {base.project}"):
        base.docker.compose.up(
            wanted, detach=True, wait=True, wait_timeout=timeout, pull="never", quiet=True
        )


def _replicas(config: dict[str, Any]) -> int:
    spec = (config.get("services") or {}).get(SERVICE) or {}
    return int((spec.get("deploy") or {}).get("replicas") or 1)


def _retire_stack_api(base: stack_mod.Stack) -> None:
    """After the first blue-green switch: the stack's own api (recreate strategy) goes."""
    if any(_service_of(c) == SERVICE for c in containers(base)):
        _say(f"removing {base.project}'s own api (a colour serves now)")
        with engine.docker_errors(f"Removing {base.project}'s api"):
            base.docker.compose.rm([SERVICE], stop=True)


def _drain_and_stop(stack: ColourStack, drain: float) -> None:
    _say(f"draining colour {stack.colour} for {drain:.0f}s, then stopping it")
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
        _say(f"checking {base.project}")
        ensure_base(base, int(max(timeout, stack_mod.WAIT_TIMEOUT)), build)
        live = state.live  # the state on disk decides; its containers may be down
        target = other(live)
        new = colour_stack(base, target, version)
        config = stack_mod.preflight(new)
        _say(f"starting colour {target} ({ref}) beside {live or 'nothing'}")
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
            _say(f"colour {target}: {len(running)} container(s) healthy; smoke-testing them")
            smoke(new, running, version)
        except XorbError as exc:
            _say(f"removing colour {target}: {exc}")
            _remove(new)
            save_state(environment, state.forget(target))
            keeps = f"colour {live} keeps serving" if live else "nothing was switched"
            raise XorbError(f"The deploy of {version} failed: {exc}; {keeps}.") from None
        _say(f"switching nginx to {alias(target)}")
        switch(base, target, timeout)
        save_state(environment, state.switched(target, version))
        _say(f"nginx serves colour {target}; the old workers have finished")
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
        _say(f"starting colour {target} ({image_ref(version)}) again")
        with engine.docker_errors(f"Starting {back.project}"):
            back.docker.compose.start()
        running = wait_healthy(back, len(containers(back)), timeout)
        smoke(back, running, version)
        _say(f"switching nginx to {alias(target)}")
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


_STARTED = time.monotonic()


def _say(message: str) -> None:
    print(
        f"blue-green [{time.monotonic() - _STARTED:5.1f}s]: {message}", file=sys.stderr, flush=True
    )
