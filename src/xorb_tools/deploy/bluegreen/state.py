"""Blue-green's pure parts and its state on disk: input checks, the colours, nginx's upstream
line, which colour is live (written atomically), one change at a time (a file lock)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import filelock

from xorb_tools.core import inputs, names, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import deploylog
from xorb_tools.deploy import stack as stack_mod

COLOURS = ("blue", "green")
STRATEGIES = ("recreate", "blue-green")
COLOUR_FILE = stack_mod.COMPOSE_DIR / "docker-compose.bluegreen.yml"
UPSTREAM_FILE = "upstream.conf"
SERVICE = "api"
API_PORT = services.load().service(SERVICE).port
"""The API's port, from the service table (``[tool.xorb]``)."""
DRAIN_SECONDS = 10
"""Default wait between the switch and stopping the old colour (``--drain``)."""
TIMEOUT = 120
"""Default seconds the new colour gets to become healthy (``--timeout``)."""
POLL = 0.5
# The stack's services a colour does not replace; the rest must run before a deploy.
NOT_BASE = frozenset({SERVICE, "nginx", "migrate"})


class NothingChanged(XorbError):
    """A refusal before anything was touched (bad input, nothing to roll back to, busy)."""


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise NothingChanged(f"Unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}.")
    return strategy


def check_engine(name: str) -> str:
    try:
        return inputs.engine(name)
    except XorbError as exc:
        raise NothingChanged(str(exc)) from None


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


STARTED = time.monotonic()


def say(message: str) -> None:
    print(
        f"blue-green [{time.monotonic() - STARTED:5.1f}s]: {message}", file=sys.stderr, flush=True
    )
