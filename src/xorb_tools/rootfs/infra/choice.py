"""Which image a stack or a test runs for each infrastructure service: an override variable,
the official image when it is local or can be pulled, else the air-gapped one (built on
request, announced)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from python_on_whales.exceptions import DockerException

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError

if TYPE_CHECKING:
    from python_on_whales import DockerClient
from xorb_tools.rootfs.infra.catalog import BUILD_HINT, get, names
from xorb_tools.rootfs.infra.images import build, say


def resolve(
    name: str, *, client: DockerClient | None = None, pull: bool = True, build_missing: bool = False
) -> str:
    """The image to run for ``name``.

    In order: the reference in ``XORB_<NAME>_IMAGE`` when set; the official image when it is
    in the local store or can be pulled (``pull``); the air-gapped image when it is local.
    Otherwise, with ``build_missing``, the air-gapped image is built here (announced in one
    line, then the build's own progress); without it, a :class:`XorbError` that says to run
    ``inv infra-images``.
    """
    spec = get(name)
    docker = client if client is not None else engine.client()
    override = os.environ.get(spec.env_var)
    if override:
        return override
    if docker.image.exists(spec.official):
        return spec.official
    if pull:
        try:
            docker.image.pull(spec.official, quiet=True)
        except DockerException:
            pass
        else:
            return spec.official
    if docker.image.exists(spec.ref):
        return spec.ref
    if build_missing:
        say(
            f"{spec.official} cannot be pulled and {spec.ref} is not here: building it from "
            "Debian packages (once; `inv infra-images` builds them all ahead)"
        )
        return build(name).ref
    raise XorbError(
        f"Neither {spec.official} nor the air-gapped {spec.ref} is available for {name}: "
        f"{BUILD_HINT}."
    )


def resolve_env(
    selected: Iterable[str] | None = None,
    *,
    client: DockerClient | None = None,
    pull: bool = True,
    build_missing: bool = False,
) -> dict[str, str]:
    """``{XORB_<NAME>_IMAGE: ref}`` for compose, resolving each image with :func:`resolve`."""
    wanted = list(selected) if selected else list(names())
    return {
        get(n).env_var: resolve(n, client=client, pull=pull, build_missing=build_missing)
        for n in wanted
    }
