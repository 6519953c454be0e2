"""Attestations: which ones a build attaches (pure), and reading them back from a registry.

BuildKit stores them next to the image in its index: one attestation manifest per platform
(annotation ``vnd.docker.reference.type: attestation-manifest``) whose layers are in-toto
statements: SLSA provenance and the SBOM (SPDX) our own generator image wrote during the
build (:data:`SCANNER`, built from the locked trivy wheel: BuildKit's default generator is
an image on Docker Hub, which air-gapped hosts cannot pull).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from xorb_tools.core import registry
from xorb_tools.core.errors import XorbError

PROVENANCE_MODES = ("auto", "off", "min", "max")
SBOM_MODES = ("auto", "on", "off")
SCANNER = "sbom-scanner"
"""The infrastructure table's row of the SBOM generator image."""
ATTESTATION = "attestation-manifest"
PREDICATE_KEY = "in-toto.io/predicate-type"
PROVENANCE_TYPES = ("https://slsa.dev/provenance/v0.2", "https://slsa.dev/provenance/v1")
SBOM_TYPES = ("https://spdx.dev/Document", "https://cyclonedx.org/bom")
BUILDKIT_METADATA = "https://mobyproject.org/buildkit@v1#metadata"


def provenance_mode(requested: str, *, push: bool) -> str:
    """``off``, ``min`` or ``max``. ``auto``: min when pushing (``inv release`` asks for max),
    off for an image loaded into the engine (provenance records build times: an identical
    rebuild would get a new digest)."""
    if requested not in PROVENANCE_MODES:
        raise XorbError(f"--provenance {requested!r}: choose {', '.join(PROVENANCE_MODES)}.")
    if requested != "auto":
        return requested
    return "min" if push else "off"


def sbom_wanted(requested: str, *, push: bool) -> bool:
    """Whether the build attaches an SBOM (``auto``: when it pushes)."""
    if requested not in SBOM_MODES:
        raise XorbError(f"--sbom {requested!r}: choose {', '.join(SBOM_MODES)}.")
    return requested == "on" or (requested == "auto" and push)


def attestations(provenance: str, generator: str | None) -> list[dict[str, str]]:
    """BuildKit's attestation requests for the chosen modes (``type`` plus options)."""
    out = [
        {"type": "provenance", "disabled": "true"}
        if provenance == "off"
        else {"type": "provenance", "mode": provenance}
    ]
    if generator:
        out.append({"type": "sbom", "generator": generator})
    return out


def as_flag(request: dict[str, str]) -> str:
    """One request as ``--attest`` (and bake's ``attest``) spell it."""
    return ",".join(f"{k}={v}" for k, v in request.items())


@dataclass
class Attested:
    """One platform's image in an index and the attestations stored for it."""

    platform: str
    digest: str
    provenance: dict[str, Any] | None = None
    sboms: list[dict[str, Any]] = field(default_factory=list)
    attestation_bytes: int = 0
    """Bytes the attestation manifest and its statements add in the registry."""
    image_bytes: int = 0
    """The platform's image in the registry: manifest, config and compressed layers."""

    @property
    def revision(self) -> str:
        """The source commit the provenance records ("" when it records none)."""
        meta = (self.provenance or {}).get("metadata") or {}
        vcs = (meta.get(BUILDKIT_METADATA) or {}).get("vcs") or {}
        return str(vcs.get("revision") or "")

    @property
    def source(self) -> str:
        meta = (self.provenance or {}).get("metadata") or {}
        return str(((meta.get(BUILDKIT_METADATA) or {}).get("vcs") or {}).get("source") or "")

    @property
    def packages(self) -> int:
        """Packages the SBOMs list (SPDX ``packages``, CycloneDX ``components``)."""
        return sum(len(s.get("packages") or s.get("components") or []) for s in self.sboms)


def _json(raw: bytes | None, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise XorbError(f"{what} is not valid JSON.")
    return value


def _platform(entry: dict[str, Any]) -> str:
    p = entry.get("platform") or {}
    return "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)


def _bytes(raw: bytes, manifest: dict[str, Any]) -> int:
    parts = [manifest.get("config") or {}, *(manifest.get("layers") or [])]
    return len(raw) + sum(int(p.get("size") or 0) for p in parts)


def read(ref: registry.Ref) -> tuple[str, list[Attested]]:
    """The digest ``ref``'s tag points at and, per platform, the attestations stored for it.
    A plain image manifest (no index) has none. Raises XorbError when the tag is absent."""
    found = registry.get_manifest(ref)
    if found is None:
        raise XorbError(f"{ref.host}/{ref.repository}:{ref.tag} does not exist.")
    _, body = found
    digest = registry.sha256(body)
    index = _json(body, f"{ref.repository}:{ref.tag}")
    entries = index.get("manifests")
    if not isinstance(entries, list):  # a single image: nothing attached
        return digest, [Attested("", digest, image_bytes=_bytes(body, index))]
    images = {
        e["digest"]: Attested(_platform(e), e["digest"])
        for e in entries
        if (e.get("annotations") or {}).get("vnd.docker.reference.type") != ATTESTATION
    }
    for image in images.values():
        _, raw = registry.get_manifest(ref, image.digest) or ("", b"{}")
        image.image_bytes = _bytes(raw, _json(raw, f"the image manifest {image.digest}"))
    for entry in entries:
        notes = entry.get("annotations") or {}
        subject = images.get(notes.get("vnd.docker.reference.digest", ""))
        if notes.get("vnd.docker.reference.type") != ATTESTATION or subject is None:
            continue
        _, raw = registry.get_manifest(ref, entry["digest"]) or ("", b"")
        manifest = _json(raw, f"the attestation manifest {entry['digest']}")
        subject.attestation_bytes += len(raw)
        for layer in manifest.get("layers") or []:
            kind = (layer.get("annotations") or {}).get(PREDICATE_KEY, "")
            subject.attestation_bytes += int(layer.get("size") or 0)
            if kind not in PROVENANCE_TYPES + SBOM_TYPES:
                continue
            statement = _json(registry.get_blob(ref, layer["digest"]), f"statement {kind}")
            predicate = statement.get("predicate") or {}
            if kind in PROVENANCE_TYPES:
                subject.provenance = predicate
            else:
                subject.sboms.append(predicate)
    return digest, list(images.values())
