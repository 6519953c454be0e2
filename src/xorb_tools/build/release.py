"""Push, pull and clean existing images (``inv push``, ``inv pull``, ``inv clean``)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from python_on_whales.exceptions import DockerException

from xorb_tools.build import cache
from xorb_tools.core import engine, images, inputs, names, registry
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project

LABEL_ENVIRONMENT = "io.xorb.environment"


def _version(project: Project, version: str | None) -> str:
    return inputs.version(project.version if version is None else version)


def push(
    project: Project,
    version: str | None,
    registry_host: str | None,
    names: Sequence[str],
    environment: str | None,
) -> list[tuple[str, str, str]]:
    """Tag ``<image>:<version>`` for the registry, push it, return (service, ref, digest)."""
    tag = _version(project, version)
    reg = inputs.registry(registry_host if registry_host is not None else project.registry)
    if environment:
        project.check_environment(environment)
    selected = project.select(names)
    engine.require_daemon()
    client = engine.client()
    for svc in selected:  # check everything before pushing anything
        if not client.image.exists(svc.ref(tag)):
            raise XorbError(f"Image {svc.ref(tag)} does not exist: build it with `inv build`.")
    registry.require(reg, "inv push")
    rows = []
    for svc in selected:
        for local_tag in [tag, *([environment] if environment else [])]:
            remote = svc.ref(local_tag, reg)
            rows.append((svc.name, remote, images.push(svc.ref(tag), remote)))
    return rows


def pull(
    project: Project, version: str | None, registry_host: str | None, names: Sequence[str]
) -> list[tuple[str, str, str]]:
    """Pull ``<registry>/<image>:<version>`` and tag it ``<image>:<version>`` locally."""
    tag = _version(project, version)
    reg = inputs.registry(registry_host if registry_host is not None else project.registry)
    selected = project.select(names)
    engine.require_daemon()
    registry.require(reg, "inv pull")
    client = engine.client()
    rows = []
    for svc in selected:
        remote = svc.ref(tag, reg)
        with engine.docker_errors(f"Pulling {remote}"):
            client.image.pull(remote, quiet=True)
            client.image.tag(remote, svc.ref(tag))
        rows.append((svc.name, remote, svc.ref(tag)))
    return rows


def clean(
    project: Project, environment: str, builder_cache: bool, dry_run: bool
) -> list[tuple[str, str]]:
    """Remove one environment's images, stopped containers, volumes, compose env files and
    local caches."""
    project.check_environment(environment)
    engine.require_daemon()
    client = engine.client()
    compose_project = names.project_name(environment)
    removed: list[tuple[str, str]] = []
    containers = client.container.list(
        all=True, filters={"label": f"com.docker.compose.project={compose_project}"}
    )
    stopped = [c for c in containers if c.state.status in ("exited", "created", "dead")]
    removed += [("container", c.name) for c in stopped]
    images = client.image.list(filters={"label": f"{LABEL_ENVIRONMENT}={environment}"})
    removed += [("image", ", ".join(i.repo_tags or [i.id[:19]])) for i in images]
    volumes = client.volume.list(
        filters={"dangling": "true", "label": f"com.docker.compose.project={compose_project}"}
    )
    removed += [("volume", v.name) for v in volumes]
    # The env files compose read for this project (one per set of variables, see
    # stack.Stack.env_file); kept while any of its containers still runs.
    env_files = [] if len(stopped) < len(containers) else names.env_files(compose_project)
    removed += [("compose env file", str(p)) for p in env_files]
    local = cache.cache_root(project.root) / environment
    if local.exists():
        removed.append(("local cache", str(local)))
    if builder_cache:
        removed.append(("builder cache", "all BuildKit cache (shared by every environment)"))
    if dry_run:
        return removed
    with engine.docker_errors(f"Cleaning {environment}"):
        for c in stopped:
            c.remove(volumes=False)
        for image in images:
            try:
                client.image.remove(image, force=True, prune=True)
            except DockerException as exc:
                if "in use" not in (exc.stderr or ""):
                    raise
        for v in volumes:
            v.remove()
        if builder_cache:
            client.buildx.prune(all=True)
    for path in env_files:
        path.unlink(missing_ok=True)
    shutil.rmtree(local, ignore_errors=True)
    return removed
