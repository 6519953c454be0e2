"""Categories 1 and 2 of the guide: the Docker environment, and building the test images."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from xorb_tools import build
from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.quality.structure.base import (
    LOW_CPUS,
    LOW_DISK_BYTES,
    LOW_MEMORY_BYTES,
    MIN_ENGINE_MAJOR,
    TARGET_ENVIRONMENT,
    Report,
    _short,
    engine_major,
)
from xorb_tools.quality.structure.context import Context
from xorb_tools.quality.structure.registry import category


@category("Docker Environment")
def docker_environment(ctx: Context, r: Report) -> None:
    r.info("🐳 Testing Docker Environment...")
    version = engine.server_version()
    r.check(
        engine_major(version) >= MIN_ENGINE_MAJOR,
        f"Docker daemon connected (version: {version})",
        f"Docker daemon {version} is older than {MIN_ENGINE_MAJOR}: upgrade the engine",
    )
    info = ctx.client.info()
    cpus, memory = int(info.n_cpu or 0), int(info.mem_total or 0)
    (r.ok if cpus >= LOW_CPUS else r.warn)(f"{cpus} CPUs")
    (r.ok if memory >= LOW_MEMORY_BYTES else r.warn)(f"{memory / 1024**3:.1f} GiB memory")
    root = Path(str(info.docker_root_dir or "/var/lib/docker"))
    if root.exists():
        free = shutil.disk_usage(root).free
        (r.ok if free >= LOW_DISK_BYTES else r.warn)(f"{free / 1024**3:.1f} GiB free at {root}")
    else:
        r.warn(f"data root {root} is not on this host (remote engine): disk space not checked")
    for what, probe in (("buildx", engine.buildx_version), ("compose", engine.compose_version)):
        try:
            r.ok(f"docker {what} {probe()}")
        except XorbError as exc:
            r.fail(str(exc))
    r.ok(f"Found {info.containers} containers")
    r.ok(f"Found {info.images} images")


@category("Build Test Images")
def build_test_images(ctx: Context, r: Report) -> None:
    r.info("🔨 Building Test Images...")
    names = tuple(s.name for s in ctx.services)
    for target, environment in TARGET_ENVIRONMENT.items():
        plan = build.plan(
            ctx.project, build.Options(environment=environment, target=target, services=names)
        )
        if ctx.options.skip_build:
            r.info(f"Checking the {target} target (--skip-build)...")
        else:
            r.info(f"Building {target} target ({', '.join(names)}), {environment} environment...")
            started = time.monotonic()
            try:
                build.run(plan, echo=False)
            except XorbError as exc:
                # Another build writing the same layer into the containerd store at the
                # same moment ("ref ... locked"): transient, so one retry.
                if "locked for" not in str(exc):
                    raise
                r.warn("the image store was busy with a concurrent build: retrying once")
                build.run(plan, echo=False)
            r.info(f"  built in {time.monotonic() - started:.1f}s")
        for b in plan.builds:
            tag = b.tags[-1]
            if not engine.image_exists(tag):
                r.fail(f"{b.service.name} {target} image {tag} does not exist")
                continue
            image_id = str(ctx.client.image.inspect(tag).id)
            r.ok(f"Built {b.service.name} image: {_short(image_id)} ({target}: {tag})")
