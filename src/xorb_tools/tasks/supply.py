"""Supply-chain tasks: ``inv release``, ``inv sign``, ``inv verify``, ``inv keygen``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from xorb_tools.core import engine, services
from xorb_tools.tasks import images
from xorb_tools.tasks._util import console, lazy, split_names, table, user_errors

if TYPE_CHECKING:
    from xorb_tools.supply import signing
    from xorb_tools.supply import verify as checks
else:  # loaded when a task runs, not for `inv --list`
    signing = lazy("xorb_tools.supply.signing")
    checks = lazy("xorb_tools.supply.verify")

KEY_HELP = "public key to check against (default secrets/signing/cosign.pub)"


@task(
    help={
        "out": "folder for cosign.key and cosign.pub (default secrets/signing)",
        "force": "replace an existing key pair",
    }
)
@user_errors
def keygen(c: Context, out: str | None = None, force: bool = False) -> None:
    """Create the signing key pair (ECDSA P-256, cosign's format) in secrets/signing/.

    Set XORB_SIGNING_PASSWORD to encrypt the private key. Publish cosign.pub; keep cosign.key
    out of git (it is ignored) and hand it to CI as the XORB_SIGNING_KEY secret.
    """
    pair = signing.default_keys(services.load().root)
    if out:
        pair = signing.KeyPair(Path(out) / pair.private.name, Path(out) / pair.public.name)
    pair = signing.keygen(pair, force)
    console.print(f"Signing key: {pair.private} (keep it secret); public key: {pair.public}")


@task(
    iterable=["service"],
    help={
        "version": "release tag to sign (default: project version)",
        "registry": "registry host[:port] (default from pyproject)",
        "service": "service (repeatable; default all)",
    },
)
@user_errors
def sign(
    c: Context,
    version: str | None = None,
    registry: str | None = None,
    service: list[str] | None = None,
) -> None:
    """Sign each service's pushed image digest (cosign's format; `cosign verify` checks it).

    The key: XORB_SIGNING_KEY (a path, or the PEM itself), else secrets/signing/cosign.key.
    """
    project = services.load()
    rows = checks.sign(
        project,
        version or project.version,
        registry,
        split_names(service),
        signing.default_keys(project.root),
    )
    table("Signed", ["service", "image", "signature"], [(s, i, d[:19]) for s, i, d in rows])


@task(
    iterable=["service"],
    help={
        "version": "release tag to verify (default: project version)",
        "registry": "registry host[:port] (default from pyproject)",
        "service": "service (repeatable; default all)",
        "key": KEY_HELP,
        "commit": "the commit the images must be built from (default: the git tag V or vV, "
        "else this checkout's HEAD)",
        "signing_key": "check against the public half of the signing key (XORB_SIGNING_KEY)",
    },
)
@user_errors
def verify(
    c: Context,
    version: str | None = None,
    registry: str | None = None,
    service: list[str] | None = None,
    key: str | None = None,
    commit: str | None = None,
    signing_key: bool = False,
) -> None:
    """Check a release: each image signed, built from this commit, with an SBOM.

    Every platform of each service's index is checked; the first problem is one sentence
    naming the image, and the exit status is 1.
    """
    project = services.load()
    revision, rows = checks.verify_release(
        project,
        version or project.version,
        registry,
        split_names(service),
        public_key=Path(key) if key else None,
        commit=commit,
        signing_keys=signing.default_keys(project.root) if signing_key else None,
    )
    table(
        f"Verified {len(rows)} image(s): signed, built from {revision[:12]}, with an SBOM",
        ["service", "image", "digest", "platforms", "SBOM packages", "attestations"],
        [
            (
                r.service,
                r.ref,
                r.digest[:19],
                ", ".join(r.platforms),
                str(r.packages),
                f"{r.attestation_bytes / 1000:.1f} kB",
            )
            for r in rows
        ],
    )


@task(
    iterable=["platform"],
    help={
        "version": "release tag (default: project version)",
        "registry": "registry host[:port] to push to (default from pyproject)",
        "platform": "target platform, e.g. linux/arm64 (repeatable; default the host's)",
        "cache": "build cache, as for `inv build` (default auto)",
    },
)
@user_errors
def release(
    c: Context,
    version: str | None = None,
    registry: str | None = None,
    platform: list[str] | None = None,
    cache: str = "auto",
) -> None:
    """Build, push, sign and verify the production images (provenance mode=max, SBOM).

    The same checks as `inv verify` end it: a release that does not verify fails here.
    """
    services.load()
    engine.require_daemon()  # before the registry check that --push makes
    images.build(
        c,
        version=version,
        push=True,
        registry=registry,
        platform=platform,
        provenance="max",
        sbom="on",
        cache=cache,
    )
    sign(c, version=version, registry=registry)
    verify(c, version=version, registry=registry, signing_key=True)
