"""``inv sign`` and ``inv verify``: one release's images in a registry, service by service.

Verification needs, for every service's ``<registry>/<image>:<version>``: a signature by
the public key over the digest the tag points at now (a tag re-pushed from another build
has another digest, so it fails), SLSA provenance naming this repository's commit, and an
SBOM, for every platform of the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from xorb_tools.core import engine, gitinfo, inputs, registry
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project, Service
from xorb_tools.supply import attest, signing


@dataclass(frozen=True)
class Checked:
    """One verified image, for the summary table and the release report."""

    service: str
    ref: str
    digest: str
    platforms: tuple[str, ...]
    revision: str
    packages: int
    attestation_bytes: int


def _refs(
    project: Project, version: str, registry_host: str | None, names: Sequence[str]
) -> list[tuple[Service, registry.Ref]]:
    tag = inputs.version(version)
    host = inputs.registry(registry_host or project.registry)
    registry.require(host, "signing and verifying images")
    return [(s, registry.Ref.parse(s.ref(tag, host))) for s in project.select(names)]


def sign(
    project: Project,
    version: str,
    registry_host: str | None,
    names: Sequence[str],
    keys: signing.KeyPair,
) -> list[tuple[str, str, str]]:
    """Sign each service's pushed digest: (service, image@digest, signature manifest)."""
    key = signing.private_key(keys)
    rows = []
    for svc, ref in _refs(project, version, registry_host, names):
        digest = registry.manifest_digest(ref)
        if digest is None:
            raise XorbError(f"{_name(ref)} is not in the registry: push it with `inv release`.")
        rows.append((svc.name, f"{_name(ref)}@{digest}", signing.sign(ref, digest, key)))
    return rows


def _name(ref: registry.Ref) -> str:
    return f"{ref.host}/{ref.repository}:{ref.tag}"


def check(
    ref: registry.Ref, key: ec.EllipticCurvePublicKey, key_name: str, revision: str
) -> tuple[str, list[attest.Attested]]:
    """The digest and platforms of ``ref``, or XorbError naming the image and the problem."""
    name = _name(ref)
    digest, platforms = attest.read(ref)
    short = digest[7:19]
    problem = signing.check(ref, digest, key)
    if problem:
        raise XorbError(f"{name} (sha256:{short}) {problem} ({key_name}).")
    for image in platforms:
        where = f"{name} ({image.platform or 'sha256:' + short})"
        if image.provenance is None:
            raise XorbError(f"{where} carries no provenance attestation.")
        if image.revision != revision:
            built = image.revision[:12] or "no recorded commit"
            raise XorbError(f"{where} was built from {built}, not from commit {revision[:12]}.")
        if not image.sboms:
            raise XorbError(f"{where} carries no SBOM attestation.")
    return digest, platforms


def verify(
    project: Project,
    version: str,
    registry_host: str | None,
    names: Sequence[str],
    key: ec.EllipticCurvePublicKey,
    key_name: str,
    revision: str,
) -> list[Checked]:
    """Check every selected service's release image; the first problem is the error."""
    rows = []
    for svc, ref in _refs(project, version, registry_host, names):
        digest, platforms = check(ref, key, key_name, revision)
        rows.append(
            Checked(
                svc.name,
                _name(ref),
                digest,
                tuple(p.platform for p in platforms),
                platforms[0].revision,
                sum(p.packages for p in platforms),
                sum(p.attestation_bytes for p in platforms),
            )
        )
    return rows


def pull_verified(project: Project, version: str, rows: Sequence[Checked]) -> list[str]:
    """Pull each verified image by its digest and tag it ``<image>:<version>`` locally, so a
    deploy runs exactly what was verified (the containerd image store keeps the index
    digest: pushed again, it is the same digest). The local tags."""
    engine.require_daemon()
    client = engine.client()
    tags = []
    for row in rows:
        pinned = f"{row.ref.rpartition(':')[0]}@{row.digest}"
        local = project.service(row.service).ref(version)
        with engine.docker_errors(f"Pulling the verified {pinned}"):
            client.image.pull(pinned, quiet=True)
            client.image.tag(pinned, local)
        tags.append(local)
    return tags


def verify_release(
    project: Project,
    version: str,
    registry_host: str | None,
    names: Sequence[str] = (),
    *,
    public_key: Path | None = None,
    commit: str | None = None,
    signing_keys: signing.KeyPair | None = None,
) -> tuple[str, list[Checked]]:
    """:func:`verify` with the defaults ``inv verify`` and ``deploy --verify`` share: the
    commit of the release's git tag (else HEAD) unless ``commit``; the public key
    ``public_key``, else the public half of ``signing_keys`` (what ``inv release`` signed
    with), else ``secrets/signing/cosign.pub``. (revision, rows)."""
    revision = commit or gitinfo.release_commit(project.root, version)
    if signing_keys is not None:
        key, name = signing.private_key(signing_keys).public_key(), "the signing key"
    else:
        path = public_key or signing.default_keys(project.root).public
        key, name = signing.public_key(path), str(path)
    return revision, verify(project, version, registry_host, names, key, name, revision)


def verified_release(
    project: Project, version: str | None, registry_host: str | None, key_path: Path | None
) -> str:
    """``inv deploy --verify``: verify release ``version``, then pull its images by the
    verified digests. One line saying what was verified."""
    if not version:
        raise XorbError("--verify checks a release: name it with --version.")
    revision, rows = verify_release(project, version, registry_host, public_key=key_path)
    tags = pull_verified(project, version, rows)
    return (
        f"Verified release {version} ({len(rows)} images: signed, built from {revision[:12]}, "
        f"with an SBOM) and pulled it by digest: {', '.join(tags)}"
    )
