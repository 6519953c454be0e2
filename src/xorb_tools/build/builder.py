"""Which BuildKit builder a build uses, and why: one that can export the cache it writes.

The engine's default builder (the ``docker`` driver) exports a cache only on the containerd
image store. On the classic store (GitHub's ``ubuntu-24.04`` runners ship docker-ce 28 that
way) buildx refuses every cache export before BuildKit sees it, except ``inline``. There a
build that writes a cache uses a ``docker-container`` builder of our own, created once per
engine and reused, whose images are loaded back into the engine; it needs the BuildKit image
(``XORB_BUILDKIT_IMAGE``), local or pullable. Where neither works (no registry, classic
store) the build stops before it starts, in one sentence naming both ways out. The workflows
take the other way: ``scripts/provision.sh`` turns the containerd store on (about 1 s here).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from python_on_whales.exceptions import DockerException

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError

BUILDKIT_IMAGE = "moby/buildkit:buildx-stable-1"
EXPORTLESS_MODES = ("none", "inline")  # inline cache rides in the image: every driver can
PROVISION_HINT = "turn on the containerd image store (`bash scripts/provision.sh`, as root)"


@dataclass(frozen=True)
class Choice:
    """The builder for a build: its name (None: the engine's current one), driver, why."""

    name: str | None
    driver: str
    reason: str

    def describe(self) -> str:
        """One line for the build's header and ``inv doctor``."""
        return f"{self.name or 'default'} ({self.driver} driver: {self.reason})"


def buildkit_image() -> str:
    """The image a docker-container builder runs (``XORB_BUILDKIT_IMAGE`` overrides)."""
    return os.environ.get("XORB_BUILDKIT_IMAGE", BUILDKIT_IMAGE)


def own_builder_name() -> str:
    """Our docker-container builder's name: one per engine endpoint, reused across builds."""
    endpoint = os.environ.get("DOCKER_HOST") or os.environ.get("DOCKER_CONTEXT") or "default"
    return "xorb-" + hashlib.sha256(endpoint.encode()).hexdigest()[:8]


def containerd_store() -> bool:
    """Whether the engine keeps images in the containerd store (its builder exports cache)."""
    with engine.docker_errors("Reading the engine's image store"):
        info = engine.client().system.info()
    statuses = {str(k): str(v) for k, v in (info.driver_status or [])}
    return "containerd" in statuses.get("driver-type", "")


def current() -> tuple[str, str]:
    """The name and driver of the builder buildx uses now."""
    with engine.docker_errors("Inspecting the buildx builder"):
        b = engine.client().buildx.inspect()
    return str(b.name), str(b.driver)


def _existing(name: str) -> bool:
    with engine.docker_errors("Listing the buildx builders"):
        return any(str(b.name) == name for b in engine.client().buildx.list())


def plan(mode: str) -> tuple[Choice | None, str]:
    """What :func:`choose` would do, without creating anything: (choice or None, why)."""
    name, driver = current()
    if driver != "docker":
        return Choice(name, driver, "this driver exports every cache type"), ""
    if containerd_store():
        return Choice(name, driver, "the containerd image store exports every cache type"), ""
    if mode in EXPORTLESS_MODES:
        return Choice(name, driver, f"classic image store; --cache {mode} exports nothing"), ""
    own = own_builder_name()
    if _existing(own):
        return Choice(own, "docker-container", "reused: the classic store cannot export"), ""
    image = buildkit_image()
    if engine.client().image.exists(image):
        return Choice(own, "docker-container", f"to be created from {image}"), ""
    return None, (
        f"the builder {name} uses the docker driver on the classic image store, which cannot "
        f"export a build cache, and a docker-container builder needs {image}"
    )


def choose(mode: str) -> Choice:
    """The builder a build with cache ``mode`` runs on, created when needed.

    Fails in one sentence when the cache cannot be exported by any builder this engine can
    have: never drops the cache silently.
    """
    choice, why = plan(mode)
    if choice is not None and not choice.reason.startswith("to be created"):
        return choice
    own, image = own_builder_name(), buildkit_image()
    if choice is None and not engine.have_image(image):
        raise XorbError(
            f"Cannot export the {mode} cache: {why}, which is not local and cannot be pulled; "
            f"{PROVISION_HINT}, load {image} into the engine, or build with --cache none."
        )
    try:
        engine.client().buildx.create(
            name=own,
            driver="docker-container",
            # host network: the builder reaches 127.0.0.1:5000 (registry cache) like the engine
            driver_options={"image": image, "network": "host"},
            bootstrap=True,
        )
    except DockerException as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or [""]
        raise XorbError(
            f"Cannot start a docker-container builder from {image} ({detail[0]}): "
            f"{PROVISION_HINT}, or build with --cache none."
        ) from None
    return Choice(own, "docker-container", "created: the classic store cannot export")
