"""Image tasks: build, push, pull, clean, and the air-gapped base image."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from xorb_tools.core import services
from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools import build as build_mod
    from xorb_tools.build import release
    from xorb_tools.rootfs import base_image, infra
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    base_image = lazy("xorb_tools.rootfs.base_image")
    infra = lazy("xorb_tools.rootfs.infra")
    release = lazy("xorb_tools.build.release")
    build_mod = lazy("xorb_tools.build")
from xorb_tools.core.errors import XorbError
from xorb_tools.tasks._util import console, split_names, table, user_errors

MB = 1_000_000


@task(
    auto_shortflags=False,
    iterable=["service", "platform", "no_cache_filter"],
    help={
        "environment": "development | staging | production | test (default production)",
        "target": "Dockerfile target: development | production | testing (default production)",
        "service": "service to build (repeatable or comma-separated; default all)",
        "version": "image version tag: semver or a git ref name (default: project version)",
        "push": "push the images to --registry (default from pyproject) and print digests",
        "registry": "registry host[:port] to tag for and push to",
        "cache": "auto | local | registry | gha | inline | none (default auto: gha when the "
        "Actions cache runtime reaches the step, registry with --push, else local)",
        "sequential": "build one image at a time with buildx build (default: bake, parallel)",
        "parallel": "build all images in one buildx bake (the default)",
        "base_image": "base image to build FROM (default: configured, else `inv base-image`)",
        "platform": "target platform, e.g. linux/amd64 (repeatable)",
        "ca_cert": "PEM bundle pip trusts inside the build, in place of the public roots: the "
        "proxy's CA, plus the roots if needed (default PIP_CERT, SSL_CERT_FILE, ...)",
        "sbom": "auto | on | off: an SBOM attestation, made offline by our generator image "
        "(auto: on with --push)",
        "provenance": "auto | off | min | max: SLSA provenance (auto: min with --push, off for "
        "a local image, whose digest would change with every rebuild)",
        "quiet": "print no progress (same as --progress quiet)",
        "progress": "auto (a live line per image on a terminal, BuildKit's plain lines "
        "otherwise) | tty | plain | quiet",
        "no_cache_filter": "Dockerfile stage to rebuild without cache (repeatable)",
    },
)
@user_errors
def build(
    c: Context,
    environment: str = "production",
    target: str = "production",
    service: list[str] | None = None,
    version: str | None = None,
    push: bool = False,
    registry: str | None = None,
    cache: str = "auto",
    sequential: bool = False,
    parallel: bool = True,
    base_image: str | None = None,
    platform: list[str] | None = None,
    ca_cert: str | None = None,
    sbom: str = "auto",
    provenance: str = "auto",
    quiet: bool = False,
    no_cache_filter: list[str] | None = None,
    progress: str = "auto",
) -> None:
    """Build the service images (bake in parallel, or --sequential), with cache.

    The summary's "cached steps" is N/M: the image's target has M build steps in the
    Dockerfile (every RUN, COPY, ADD, WORKDIR and image FROM of the stages it needs), and
    this build did not have to run N of them (a cache held them). A no-op is M/M.
    """
    if progress not in ("auto", "tty", "plain", "quiet"):
        raise XorbError(f"--progress {progress!r}: choose auto, tty, plain or quiet.")
    options = build_mod.Options(
        environment=environment,
        target=target,
        services=split_names(service),
        version=version,
        push=push,
        registry=registry,
        cache=cache,
        parallel=parallel and not sequential,
        base_image=base_image,
        platforms=split_names(platform),
        sbom=sbom,
        provenance=provenance,
        ca_cert=ca_cert,
        no_cache_filter=split_names(no_cache_filter),
    )
    plan = build_mod.plan(services.load(), options)
    console.print(f"Base image: {plan.base_image} ({plan.base_reason})")
    ca_line = f"{plan.ca_bundle.path} from {plan.ca_bundle.source}" if plan.ca_bundle else "none"
    mode = plan.builds[0].cache.mode if plan.builds else "none"
    how = "buildx bake" if options.parallel else "buildx build"
    for note in plan.notes:
        console.print(note, soft_wrap=True)
    console.print(f"CA bundle: {ca_line}; cache: {mode}; {how}")
    if plan.builder:
        console.print(f"Builder: {plan.builder.describe()}")
    results = build_mod.run(plan, show="quiet" if quiet else progress)
    build_mod.write_report(plan, results, services.reports_dir(plan.project.root) / "build.json")
    table(
        f"Built {len(results)} image(s): target {target}, environment {environment}",
        ["service", "tag", "digest", "size (uncompressed)", "time", "cached steps"],
        [
            (
                r.service,
                r.tag,
                r.digest[:19] or "-",
                f"{r.size_bytes / MB:.1f} MB" if r.size_bytes else "-",
                f"{r.seconds:.1f}s",
                f"{r.cached_steps}/{r.total_steps}",
            )
            for r in results
        ],
    )


@task(
    iterable=["service"],
    help={
        "version": "tag to push (default: project version)",
        "registry": "registry host[:port] (default from pyproject)",
        "service": "service (repeatable; default all)",
        "environment": "also push the :<environment> tag",
    },
)
@user_errors
def push(
    c: Context,
    version: str | None = None,
    registry: str | None = None,
    service: list[str] | None = None,
    environment: str | None = None,
) -> None:
    """Push existing image tags to a registry and print their digests."""
    rows = release.push(services.load(), version, registry, split_names(service), environment)
    table("Pushed", ["service", "reference", "digest"], rows)


@task(
    iterable=["service"],
    help={
        "version": "tag to pull (default: project version)",
        "registry": "registry host[:port] (default from pyproject)",
        "service": "service (repeatable; default all)",
    },
)
@user_errors
def pull(
    c: Context,
    version: str | None = None,
    registry: str | None = None,
    service: list[str] | None = None,
) -> None:
    """Pull image tags from a registry and tag them locally."""
    rows = release.pull(services.load(), version, registry, split_names(service))
    table("Pulled", ["service", "reference", "local tag"], rows)


@task(
    help={
        "environment": "environment whose images, containers, volumes and caches go",
        "builder_cache": "also prune the BuildKit cache (shared by all environments)",
        "dry_run": "list what would be removed, remove nothing",
    }
)
@user_errors
def clean(
    c: Context, environment: str = "development", builder_cache: bool = False, dry_run: bool = False
) -> None:
    """Remove one environment's images, stopped containers, volumes, env files and caches."""
    removed = release.clean(services.load(), environment, builder_cache, dry_run)
    verb = "Would remove" if dry_run else "Removed"
    table(f"{verb} ({environment})", ["kind", "what"], removed or [("-", "nothing")])


@task(
    name="base-image",
    help={
        "tag": "tag for the image (default from pyproject: xorb/base:bookworm)",
        "mirror": "Debian mirror (default: the host's apt source)",
        "force": "rebuild even when the tag exists",
        "epoch": "SOURCE_DATE_EPOCH (default 2025-01-01) fixing every timestamp",
    },
)
@user_errors
def base_image_task(
    c: Context,
    tag: str | None = None,
    mirror: str | None = None,
    force: bool = False,
    epoch: int | None = None,
) -> None:
    """Build the Debian 12 + Python 3.11 base image without a registry (mmdebstrap)."""
    result = base_image.build(
        tag or services.load().local_base_image, mirror=mirror, epoch=epoch, force=force
    )
    state = "built" if result.built else "exists (use --force to rebuild)"
    console.print(
        f"{result.tag} {state}: rootfs {result.rootfs_digest}, "
        f"{result.size_bytes / MB:.1f} MB uncompressed"
    )


@task(
    name="infra-images",
    iterable=["name"],
    help={
        "name": "infrastructure image to build (repeatable; default all)",
        "force": "rebuild even when the image exists with the same inputs",
        "mirror": "Debian mirror (default: the host's apt source)",
        "ca_cert": "CA bundle for a TLS-intercepting proxy",
    },
)
@user_errors
def infra_images(
    c: Context,
    name: list[str] | None = None,
    force: bool = False,
    mirror: str | None = None,
    ca_cert: str | None = None,
) -> None:
    """Build air-gapped PostgreSQL+pgvector, Redis, Temporal, nginx and Prometheus images."""
    results = infra.build_all(
        split_names(name) or None, force=force, mirror=mirror, ca_cert=ca_cert
    )
    table(
        "Infrastructure images",
        ["image", "state", "time", "size (compressed)"],
        [
            (
                r.ref,
                "built" if r.built else "up to date",
                f"{r.seconds:.1f}s",
                f"{r.compressed_bytes / MB:.1f} MB",
            )
            for r in results
        ],
    )
