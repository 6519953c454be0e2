"""Building the infrastructure images: a rootfs with mmdebstrap (users, trimmed paths) imported
as an image, then ``docker/infra/Dockerfile`` on top; all of them, or one."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from xorb_tools.core import ca, engine
from xorb_tools.core.errors import XorbError
from xorb_tools.rootfs import base_image, mmdebstrap

if TYPE_CHECKING:
    from python_on_whales import DockerClient
from xorb_tools.rootfs.infra.catalog import (
    CLEAN_PATHS,
    CONTEXT,
    DOCKERFILE,
    DPKG_EXCLUDES,
    LABEL_INPUTS,
    LABEL_OFFICIAL,
    BuildResult,
    InfraImage,
    SystemUser,
    get,
    names,
)
from xorb_tools.rootfs.infra.inputs import (
    build_args,
    ca_bundle,
    image_inputs,
    mirror_url,
    rootfs_inputs,
    source_date_epoch,
)


def _users_hook(users: Iterable[SystemUser]) -> str:
    """An essential-hook that adds users before any package's maintainer script runs."""
    lines: list[str] = ['set -e; r="$1"']
    for u in users:
        lines.append(
            f'! grep -q \'^{u.name}:\\|:x:{u.uid}:\' "$r/etc/passwd" "$r/etc/group" '
            f"|| {{ echo 'uid/gid {u.uid} or {u.name} is taken' >&2; exit 1; }}"
        )
        lines.append(
            f"echo '{u.name}:x:{u.uid}:{u.uid}:{u.name}:{u.home}:/bin/sh' >>\"$r/etc/passwd\""
        )
        lines.append(f"echo '{u.name}:x:{u.uid}:' >>\"$r/etc/group\"")
        lines.append(
            f"if [ -e \"$r/etc/shadow\" ]; then echo '{u.name}:*:1:0:99999:7:::' "
            f'>>"$r/etc/shadow"; fi'
        )
    return "; ".join(lines)


def _remove_hook(paths: Iterable[str]) -> str:
    return "rm -rf " + " ".join(f'"$1"{path}' for path in paths)


def mmdebstrap_argv(spec: InfraImage, out: Path, mirror: str) -> list[str]:
    """The mmdebstrap command line that writes ``spec``'s rootfs to the tar ``out``."""
    argv = [
        "mmdebstrap",
        "--quiet",
        "--mode=root",
        "--format=tar",
        "--variant=minbase",
        f"--include={','.join(spec.packages)}",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        '--aptopt=APT::Install-Recommends "false"',
    ]
    argv += [f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES]
    argv += [f"--dpkgopt=path-exclude={glob}" for glob in spec.excludes]
    if spec.users:
        argv.append(f"--essential-hook={_users_hook(spec.users)}")
    argv.append(f"--customize-hook={_remove_hook((*spec.remove, *CLEAN_PATHS))}")
    argv += [spec.suite, str(out), mirror]
    return argv


def say(message: str) -> None:
    print(f"infra: {message}", file=sys.stderr, flush=True)


def _label(client: DockerClient, ref: str, key: str) -> str | None:
    """Label ``key`` of the local image ``ref``, or None when the image is absent."""
    if not client.image.exists(ref):
        return None
    labels = client.image.inspect(ref).config.labels or {}
    return labels.get(key, "")


def build_rootfs(
    spec: InfraImage,
    *,
    mirror: str | None = None,
    epoch: int | None = None,
    force: bool = False,
    workdir: Path | None = None,
) -> bool:
    """Make and import ``spec.rootfs_ref`` unless it is up to date; True when it was built."""
    epoch = source_date_epoch(epoch)
    if spec.on_project_base:
        return base_image.build(spec.rootfs_ref, mirror=mirror, epoch=epoch, workdir=workdir).built
    client = engine.client()
    inputs = rootfs_inputs(spec, epoch)
    if not force and _label(client, spec.rootfs_ref, LABEL_INPUTS) == inputs:
        return False
    if os.geteuid() != 0:
        raise XorbError(
            "Building infrastructure images needs root (mmdebstrap): run the task as root."
        )
    mmdebstrap.ensure()
    say(f"mmdebstrap {spec.suite}: {', '.join(spec.packages)}")
    base_image.bootstrap_and_import(
        lambda out: mmdebstrap_argv(spec, out, mirror_url(mirror)),
        spec.rootfs_ref,
        lambda _digest: [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"LABEL {LABEL_INPUTS}={inputs} org.opencontainers.image.base.name=debian:{spec.suite}",
        ],
        epoch=epoch,
        workdir=workdir,
    )
    return True


def build(
    name: str,
    *,
    force: bool = False,
    mirror: str | None = None,
    epoch: int | None = None,
    workdir: Path | None = None,
    ca_cert: str | None = None,
) -> BuildResult:
    """Build the air-gapped image ``name`` (reused when up to date, unless ``force``)."""
    spec = get(name)
    engine.require_daemon()
    client = engine.client()
    epoch = source_date_epoch(epoch)
    started = time.monotonic()
    inputs = image_inputs(spec, epoch)
    if not force and _label(client, spec.ref, LABEL_INPUTS) == inputs:
        return BuildResult(spec.ref, False, time.monotonic() - started, compressed_size(spec.ref))
    build_rootfs(spec, mirror=mirror, epoch=epoch, force=force, workdir=workdir)
    secrets: list[str] = []
    bundle = ca_bundle(ca_cert) if spec.pypi else None
    if bundle is not None:
        secrets.append(f"id={ca.SECRET_ID},src={bundle}")
    say(f"building {spec.ref} (stands in for {spec.official})")
    with engine.docker_errors(f"Building {spec.ref}"):
        client.buildx.build(
            CONTEXT,
            file=DOCKERFILE,
            target=spec.name,
            tags=[spec.ref],
            build_args=build_args(spec, epoch),
            labels={
                LABEL_INPUTS: inputs,
                LABEL_OFFICIAL: spec.official,
                "org.opencontainers.image.title": spec.image,
                "org.opencontainers.image.description": spec.description,
                "org.opencontainers.image.version": spec.tag,
                "org.opencontainers.image.base.name": f"debian:{spec.suite}",
            },
            secrets=secrets,
            load=True,
            pull=False,
            progress=False,
        )
    return BuildResult(spec.ref, True, time.monotonic() - started, compressed_size(spec.ref))


def build_all(
    selected: Iterable[str] | None = None,
    *,
    force: bool = False,
    mirror: str | None = None,
    ca_cert: str | None = None,
) -> list[BuildResult]:
    """Build every image of the table (or the ``selected`` names), in table order."""
    wanted = list(selected) if selected else list(names())
    for name in wanted:
        get(name)
    return [build(name, force=force, mirror=mirror, ca_cert=ca_cert) for name in wanted]


def compressed_size(ref: str) -> int:
    """Size of ``ref`` as ``docker image inspect`` reports it.

    Under the containerd image store (this project's setup) that is the compressed content
    size, what a registry transfers; the unpacked size is larger.
    """
    return int(engine.client().image.inspect(ref).size or 0)
