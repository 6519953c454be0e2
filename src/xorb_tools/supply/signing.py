"""Image signatures in cosign's format: a key pair, and signatures stored in the registry.

A signature is cosign's "simple signing" payload (the repository and the manifest digest it
vouches for), signed with ECDSA P-256 / SHA-256, stored as a layer of the OCI manifest
tagged ``sha256-<digest>.sig`` in the image's repository. Anyone can check it with the
standard tool: ``cosign verify --key cosign.pub --insecure-ignore-tlog=true IMAGE@DIGEST``
(the signature is not uploaded to a transparency log: there is none offline). The private
key is PKCS#8 PEM, encrypted when ``XORB_SIGNING_PASSWORD`` is set (cosign imports it with
``cosign import-key-pair``).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from xorb_tools.core import registry
from xorb_tools.core.errors import XorbError

KEY_ENV = "XORB_SIGNING_KEY"
"""The private key: a PEM file's path, or the PEM itself (a CI secret)."""
PASSWORD_ENV = "XORB_SIGNING_PASSWORD"  # noqa: S105 - a variable name
KEY_DIR = Path("secrets") / "signing"
PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_KEY = "dev.cosignproject.cosign/signature"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
SIGNATURE_KIND = "cosign container image signature"


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


def default_keys(root: Path) -> KeyPair:
    return KeyPair(root / KEY_DIR / "cosign.key", root / KEY_DIR / "cosign.pub")


def keygen(keys: KeyPair, force: bool = False) -> KeyPair:
    """Write a new P-256 key pair (private key mode 0600); refuses to replace one."""
    if keys.private.exists() and not force:
        raise XorbError(f"{keys.private} exists: pass --force to replace the signing key.")
    key = ec.generate_private_key(ec.SECP256R1())
    password = os.environ.get(PASSWORD_ENV, "").encode()
    crypt: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    try:
        keys.private.parent.mkdir(parents=True, exist_ok=True)
        keys.private.touch(mode=0o600)
        keys.private.chmod(0o600)
        keys.private.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt)
        )
        keys.public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    except OSError as exc:
        raise XorbError(
            f"Cannot write the key pair to {keys.private.parent}: {exc.strerror}."
        ) from None
    return keys


def private_key(keys: KeyPair) -> ec.EllipticCurvePrivateKey:
    """``XORB_SIGNING_KEY`` (a path or the PEM), else ``keys.private``."""
    given = os.environ.get(KEY_ENV, "").strip()
    if given.startswith("-----BEGIN"):
        pem, where = given.encode(), KEY_ENV
    else:
        path = Path(given) if given else keys.private
        if not path.is_file():
            raise XorbError(f"No signing key at {path}: create one with `inv keygen`.")
        pem, where = path.read_bytes(), str(path)
    password = os.environ.get(PASSWORD_ENV, "").encode() or None
    try:
        key = serialization.load_pem_private_key(pem, password)
    except (ValueError, TypeError) as exc:
        raise XorbError(f"The signing key in {where} cannot be read ({exc}).") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise XorbError(f"The signing key in {where} is not an ECDSA key.")
    return key


def public_key(path: Path) -> ec.EllipticCurvePublicKey:
    if not path.is_file():
        raise XorbError(f"No public key at {path}: pass --key, or create one with `inv keygen`.")
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError as exc:
        raise XorbError(f"The public key {path} cannot be read ({exc}).") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise XorbError(f"The public key {path} is not an ECDSA key.")
    return key


def payload(repository: str, digest: str) -> bytes:
    """cosign's simple-signing payload for ``repository@digest``."""
    body = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_KIND,
        },
        "optional": None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def signature_ref(ref: registry.Ref, digest: str) -> registry.Ref:
    return ref.with_tag(digest.replace(":", "-") + ".sig")


def _layers(ref: registry.Ref) -> list[dict[str, Any]]:
    found = registry.get_manifest(ref)
    if found is None:
        return []
    layers = json.loads(found[1]).get("layers")
    return [layer for layer in layers or [] if layer.get("mediaType") == PAYLOAD_TYPE]


def sign(ref: registry.Ref, digest: str, key: ec.EllipticCurvePrivateKey) -> str:
    """Sign ``digest`` (in ``ref``'s repository); keeps earlier signatures. The signature
    manifest's digest."""
    data = payload(f"{ref.host}/{ref.repository}", digest)
    signature = base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
    target = signature_ref(ref, digest)
    layer = {
        "mediaType": PAYLOAD_TYPE,
        **registry.put_blob(target, data),
        "annotations": {SIGNATURE_KEY: signature},
    }
    layers = [*_layers(target), layer]
    config = {
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": registry.OCI_MANIFEST,
        "config": {
            "mediaType": CONFIG_TYPE,
            **registry.put_blob(target, json.dumps(config).encode()),
        },
        "layers": layers,
    }
    return registry.put_manifest(target, manifest)


def check(ref: registry.Ref, digest: str, key: ec.EllipticCurvePublicKey) -> str | None:
    """None when a signature by ``key`` vouches for ``digest``; else what is wrong."""
    layers = _layers(signature_ref(ref, digest))
    if not layers:
        return "is not signed"
    for layer in layers:
        data = registry.get_blob(ref, layer["digest"])
        sig = (layer.get("annotations") or {}).get(SIGNATURE_KEY, "")
        if data is None or not sig:
            continue
        try:
            key.verify(base64.b64decode(sig), data, ec.ECDSA(hashes.SHA256()))
            signed = json.loads(data)["critical"]["image"]["docker-manifest-digest"]
        except (InvalidSignature, ValueError, KeyError, TypeError):
            continue
        if signed == digest:
            return None
    return "has no valid signature by this key"
