"""``inv build``, the plan: options in, a :class:`BuildPlan` out (pure: no engine, unit-tested).

What each image gets (tags, build arguments, base image, cache backends, attestations) is
decided here; :mod:`xorb_tools.build.execution` runs it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xorb_tools.build import builder, cache, gha
from xorb_tools.core import ca, engine, gitinfo, inputs, registry
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project, Service
from xorb_tools.rootfs import base_image, infra, platforms
from xorb_tools.supply import attest

DOCKERFILE = Path("docker") / "Dockerfile"
SOURCE_URL = "https://github.com/xorb-platform/xorb"
NATURAL_TARGET = {"development": "development"}  # every other environment ships production
Progress = Literal["auto", "plain", "tty", False]


@dataclass(frozen=True)
class Options:
    """What the user asked ``inv build`` for (already parsed, not yet validated)."""

    environment: str = "production"
    target: str = "production"
    services: tuple[str, ...] = ()
    version: str | None = None
    push: bool = False
    registry: str | None = None
    cache: str = "auto"
    parallel: bool = True
    base_image: str | None = None
    platforms: tuple[str, ...] = ()
    sbom: str = "auto"
    """auto (with --push) | on | off: an SBOM attestation from our generator image."""
    provenance: str = "auto"
    """auto | off | min | max: SLSA provenance (auto: min when pushing; `inv release`: max)."""
    ca_cert: str | None = None
    no_cache_filter: tuple[str, ...] = ()


@dataclass
class ImageBuild:
    """One service's build: its tags, arguments and cache."""

    service: Service
    tags: list[str]
    args: dict[str, str]
    cache: cache.CachePlan
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class BuildPlan:
    """Everything :func:`run` needs; built by :func:`plan`."""

    project: Project
    options: Options
    base_image: str
    base_reason: str
    ca_bundle: ca.CaBundle | None
    registry: str | None
    builds: list[ImageBuild]
    builder: builder.Choice | None = None
    notes: list[str] = field(default_factory=list)
    attest: list[dict[str, str]] = field(default_factory=lambda: attest.attestations("off", None))
    """BuildKit attestation requests (provenance, SBOM); explicit, since buildx otherwise
    adds provenance of its own to a local image."""

    def attest_option(self, kind: str) -> dict[str, str] | bool:
        """``buildx build``'s ``--provenance``/``--sbom`` value for one kind."""
        for request in self.attest:
            if request["type"] == kind:
                rest = {k: v for k, v in request.items() if k != "type"}
                return False if rest.get("disabled") == "true" else rest
        return False

    @property
    def secrets(self) -> list[str]:
        """The BuildKit secrets (the CA bundle, when there is one)."""
        return [self.ca_bundle.secret()] if self.ca_bundle else []

    @property
    def output(self) -> dict[str, str]:
        """Where the images go (the engine's image store, or the registry) and how.

        Layers are always gzip: without ``force-compression`` BuildKit reuses whatever blob
        a layer already has, so a layer first written by the local cache export (zstd, see
        :func:`cache.plan`) or imported from any zstd cache went into the image as a zstd
        blob under a Docker media type, and ``docker pull`` refused it. Layers that already
        have a gzip blob are reused as they are.
        """
        where = {"type": "image", "push": "true"} if self.options.push else {"type": "docker"}
        return {**where, "compression": "gzip", "force-compression": "true"}

    def bake_definition(self) -> dict[str, Any]:
        """The bake file (JSON) for a parallel build: one target per service."""
        targets: dict[str, Any] = {}
        for b in self.builds:
            target: dict[str, Any] = {
                "context": str(self.project.root),
                "dockerfile": str(DOCKERFILE),
                "target": self.options.target,
                "args": b.args,
                "tags": b.tags,
                "labels": b.labels,
                **b.cache.as_bake(),
                "secret": self.secrets,
                "attest": [attest.as_flag(a) for a in self.attest],
                "output": [",".join(f"{k}={v}" for k, v in self.output.items())],
            }
            if self.options.platforms:
                target["platforms"] = list(self.options.platforms)
            if self.options.no_cache_filter:
                target["no-cache-filter"] = list(self.options.no_cache_filter)
            targets[b.service.name] = target
        return {
            "group": {"default": {"targets": [b.service.name for b in self.builds]}},
            "target": targets,
        }


@dataclass(frozen=True)
class Result:
    """One built image, for the summary table."""

    service: str
    tag: str
    digest: str
    size_bytes: int
    seconds: float
    cached_steps: int
    total_steps: int


def attestations(options: Options) -> list[dict[str, str]]:
    """The ``--attest`` values; builds the SBOM generator image first when it is needed."""
    mode = attest.provenance_mode(options.provenance, push=options.push)
    generator = None
    if attest.sbom_wanted(options.sbom, push=options.push):
        generator = infra.build(attest.SCANNER, ca_cert=options.ca_cert).ref
    return attest.attestations(mode, generator)


def tags_for(
    service: Service,
    *,
    version: str,
    revision: str,
    environment: str,
    target: str,
    registry: str | None,
) -> list[str]:
    """``<registry>/<name>:<version>``, ``:<git-sha>`` and ``:<environment>``.

    A target other than the one the environment ships gets a ``-<target>`` suffix, so a
    testing image never takes the tag a stack deploys.
    """
    natural = NATURAL_TARGET.get(environment, "production")
    suffix = "" if target == "production" else f"-{target}"
    env_tag = environment if target == natural else f"{environment}-{target}"
    names = [f"{version}{suffix}", f"{revision}{suffix}", env_tag]
    seen: list[str] = []
    for tag in names:
        ref = service.ref(tag, registry)
        if ref not in seen:
            seen.append(ref)
    return seen


def resolve_base(project: Project, explicit: str | None) -> tuple[str, str]:
    """The base image to build on, and one line saying why.

    ``--base-image`` wins; else the configured default when it is local or can be pulled;
    else the air-gapped base from ``inv base-image``, built first when it is absent.
    """
    client = engine.client()
    if explicit:
        if engine.have_image(explicit):
            return explicit, "given by --base-image"
        raise XorbError(f"Base image {explicit} is not local and cannot be pulled.")
    default = project.base_image
    if client.image.exists(default):
        return default, "the configured default, present locally"
    if engine.have_image(default):
        return default, "the configured default, pulled"
    local = project.local_base_image
    if client.image.exists(local):
        return local, f"built by `inv base-image` ({default} cannot be pulled)"
    # No registry: make the air-gapped base now (what `inv base-image` does), so the one
    # command is the whole set-up on a fresh host.
    print(
        f"Base image: {default} cannot be pulled and {local} is absent: building {local} "
        "from Debian packages first (`inv base-image`, about a minute)",
        file=sys.stderr,
        flush=True,
    )
    base_image.build(local)
    return local, f"built just now from Debian packages ({default} cannot be pulled)"


def _foreign(wanted: tuple[str, ...]) -> bool:
    """Whether the platforms are more than the host's own (a multi-platform build)."""
    return bool(wanted) and {platforms.arch_of(p) for p in wanted} != {platforms.host_arch()}


def plan(project: Project, options: Options) -> BuildPlan:
    """Validate ``options`` and work out every tag, argument and cache setting."""
    project.check_environment(options.environment)
    project.check_target(options.target)
    if options.no_cache_filter and not options.parallel:
        raise XorbError("--no-cache-filter needs the bake builder: drop --sequential.")
    services = project.select(options.services)
    git = gitinfo.read(project.root)
    version = inputs.version(project.version if options.version is None else options.version)
    reg = inputs.registry(options.registry) if options.registry is not None else None
    reg = reg or (project.registry if options.push else None)
    mode = cache.pick_mode(options.cache, push=options.push)
    ca_bundle = ca.find(options.ca_cert)
    cache_registry = reg or project.registry
    if options.push and reg:
        registry.require(reg, "--push")
    if mode in ("registry", "inline"):
        registry.require(cache_registry, f"--cache {mode}")
    engine.require_daemon()
    buildx = engine.buildx_version()
    notes = [note] if (note := cache.auto_note(options.cache, mode)) else []
    gha_export = "max"
    if mode == "gha":
        scopes = len(project.services) * len(project.environments) * len(project.targets)
        gha_export, why = gha.export_mode(scopes)
        notes.append(f"cache: GitHub Actions, {gha.runtime(buildx).detail}")
        notes.append(f"cache: gha mode={gha_export} ({why})")
    chosen = builder.choose(mode)
    base, reason = resolve_base(project, options.base_image)
    if _foreign(options.platforms):
        if not options.push or not reg:
            raise XorbError(
                f"Building for {', '.join(options.platforms)} makes one multi-platform index "
                "per service, which goes to a registry: add --push."
            )
        platforms.require_emulation(options.platforms)
        if base == project.local_base_image:
            base = platforms.multi_platform(options.platforms, base, reg)
            reason = f"the air-gapped base for {', '.join(options.platforms)}, as one index"
    builds = []
    for svc in services:
        args = {
            "BASE_IMAGE": base,
            "SERVICE": svc.package,
            "PORT": str(svc.port),
            "HEALTH_PATH": svc.health_path,
            "VERSION": version,
            "REVISION": git.revision,
            "CREATED": git.created,
            "SOURCE": SOURCE_URL,
            "SOURCE_DATE_EPOCH": str(git.epoch),
        }
        builds.append(
            ImageBuild(
                service=svc,
                tags=tags_for(
                    svc,
                    version=version,
                    revision=git.short,
                    environment=options.environment,
                    target=options.target,
                    registry=reg,
                ),
                args=args,
                cache=cache.plan(
                    mode,
                    svc,
                    options.environment,
                    project_root=project.root,
                    registry=cache_registry,
                    target=options.target,
                    gha_export=gha_export,
                ),
                labels={
                    "io.xorb.environment": options.environment,
                    "io.xorb.target": options.target,
                },
            )
        )
    attest_lines = attestations(options)
    return BuildPlan(
        project, options, base, reason, ca_bundle, reg, builds, chosen, notes, attest_lines
    )
