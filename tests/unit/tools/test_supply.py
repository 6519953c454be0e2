"""Supply chain, without an engine: which attestations a build asks for, cosign-format
signatures (key pairs, payload, sign and check) and reading attestations from an index,
against an in-memory registry. ``tests/docker/test_release.py`` runs it all for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from xorb_tools.core import registry
from xorb_tools.core.errors import XorbError
from xorb_tools.supply import attest, signing

REF = registry.Ref("127.0.0.1:5000", "xorb/api", "1.0.0")


class FakeRegistry:
    """Blobs and manifests by digest, tags by name: what the distribution API keeps."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.tags: dict[tuple[str, str], str] = {}

    def add_manifest(self, ref: registry.Ref, body: dict[str, Any], tag: str | None = None) -> str:
        data = json.dumps(body).encode()
        digest = registry.sha256(data)
        self.manifests[digest] = data
        if tag:
            self.tags[(ref.repository, tag)] = digest
        return digest

    def add_blob(self, data: bytes) -> str:
        self.blobs[registry.sha256(data)] = data
        return registry.sha256(data)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def get_manifest(ref: registry.Ref, reference: str | None = None) -> Any:
            key = reference or self.tags.get((ref.repository, ref.tag), "")
            data = self.manifests.get(key)
            return None if data is None else ("application/json", data)

        def put_manifest(ref: registry.Ref, manifest: dict[str, Any]) -> str:
            return self.add_manifest(ref, manifest, ref.tag)

        monkeypatch.setattr(registry, "get_manifest", get_manifest)
        monkeypatch.setattr(registry, "put_manifest", put_manifest)
        monkeypatch.setattr(registry, "get_blob", lambda ref, d: self.blobs.get(d))
        monkeypatch.setattr(
            registry,
            "put_blob",
            lambda ref, data: {"digest": self.add_blob(data), "size": len(data)},
        )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    store = FakeRegistry()
    store.install(monkeypatch)
    return store


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> signing.KeyPair:
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    monkeypatch.delenv(signing.PASSWORD_ENV, raising=False)
    return signing.keygen(signing.default_keys(tmp_path))


@pytest.mark.parametrize(
    ("requested", "push", "mode"),
    [("auto", True, "min"), ("auto", False, "off"), ("max", False, "max"), ("off", True, "off")],
)
def test_provenance_is_min_when_pushing_and_off_for_a_local_image(
    requested: str, push: bool, mode: str
) -> None:
    assert attest.provenance_mode(requested, push=push) == mode


def test_sbom_is_on_when_pushing_and_bad_modes_are_one_sentence() -> None:
    assert attest.sbom_wanted("auto", push=True) and not attest.sbom_wanted("auto", push=False)
    assert attest.sbom_wanted("on", push=False) and not attest.sbom_wanted("off", push=True)
    with pytest.raises(XorbError, match="--sbom 'yes': choose auto, on, off"):
        attest.sbom_wanted("yes", push=True)
    with pytest.raises(XorbError, match="--provenance 'full'"):
        attest.provenance_mode("full", push=True)


def test_attestation_requests_name_our_generator() -> None:
    requests = attest.attestations("max", "xorb/infra-sbom-scanner:1")
    assert [attest.as_flag(r) for r in requests] == [
        "type=provenance,mode=max",
        "type=sbom,generator=xorb/infra-sbom-scanner:1",
    ]
    assert attest.attestations("off", None) == [{"type": "provenance", "disabled": "true"}]


def test_a_key_pair_is_private_and_refuses_to_be_replaced(keys: signing.KeyPair) -> None:
    assert keys.private.stat().st_mode & 0o777 == 0o600
    assert b"PUBLIC KEY" in keys.public.read_bytes()
    with pytest.raises(XorbError, match="pass --force"):
        signing.keygen(keys)


def test_the_signing_key_comes_from_the_environment_as_a_path_or_pem(
    keys: signing.KeyPair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pem = keys.private.read_text()
    monkeypatch.setenv(signing.KEY_ENV, pem)
    assert signing.private_key(signing.default_keys(tmp_path / "none")) is not None
    monkeypatch.setenv(signing.KEY_ENV, str(tmp_path / "missing.key"))
    with pytest.raises(XorbError, match=r"No signing key at .*missing\.key: create one"):
        signing.private_key(keys)


def test_an_encrypted_key_needs_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    monkeypatch.setenv(signing.PASSWORD_ENV, "s3cret")
    pair = signing.keygen(signing.default_keys(tmp_path))
    assert b"ENCRYPTED" in pair.private.read_bytes()
    assert signing.private_key(pair) is not None
    monkeypatch.setenv(signing.PASSWORD_ENV, "wrong")
    with pytest.raises(XorbError, match="cannot be read"):
        signing.private_key(pair)


def test_the_payload_is_cosigns_simple_signing_format() -> None:
    body = json.loads(signing.payload("127.0.0.1:5000/xorb/api", "sha256:ab"))
    assert body["critical"] == {
        "identity": {"docker-reference": "127.0.0.1:5000/xorb/api"},
        "image": {"docker-manifest-digest": "sha256:ab"},
        "type": "cosign container image signature",
    }


def test_a_signature_vouches_for_one_digest_and_one_key(
    fake: FakeRegistry, keys: signing.KeyPair, tmp_path: Path
) -> None:
    digest = "sha256:" + "1" * 64
    public = signing.public_key(keys.public)
    assert signing.check(REF, digest, public) == "is not signed"
    signing.sign(REF, digest, signing.private_key(keys))
    assert (REF.repository, "sha256-" + "1" * 64 + ".sig") in fake.tags
    assert signing.check(REF, digest, public) is None
    other = signing.keygen(signing.default_keys(tmp_path / "other"))
    assert signing.check(REF, digest, signing.public_key(other.public)) == (
        "has no valid signature by this key"
    )
    signing.sign(REF, digest, signing.private_key(other))  # a second signer is added
    assert signing.check(REF, digest, public) is None
    assert signing.check(REF, "sha256:" + "2" * 64, public) == "is not signed"


def _statement(kind: str, predicate: dict[str, Any]) -> bytes:
    return json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": kind,
                       "predicate": predicate}).encode()  # fmt: skip


def test_attestations_are_read_per_platform_from_the_index(fake: FakeRegistry) -> None:
    image = "sha256:" + "3" * 64
    provenance = {"metadata": {attest.BUILDKIT_METADATA: {"vcs": {"revision": "abc123"}}}}
    layers: list[dict[str, Any]] = []
    for kind, predicate in (
        ("https://slsa.dev/provenance/v0.2", provenance),
        ("https://spdx.dev/Document", {"packages": [{"name": "python3.11"}, {"name": "rq"}]}),
    ):
        data = _statement(kind, predicate)
        layers.append({"digest": fake.add_blob(data), "size": len(data),
                       "annotations": {attest.PREDICATE_KEY: kind}})  # fmt: skip
    attestation = fake.add_manifest(REF, {"layers": layers})
    fake.add_manifest(REF, {"manifests": [
        {"digest": image, "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": attestation, "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                         "vnd.docker.reference.digest": image}},
    ]}, REF.tag)  # fmt: skip
    digest, platforms = attest.read(REF)
    assert digest == fake.tags[(REF.repository, REF.tag)]
    (amd64,) = platforms
    assert (amd64.platform, amd64.digest, amd64.revision, amd64.packages) == (
        "linux/amd64", image, "abc123", 2,
    )  # fmt: skip
    assert amd64.attestation_bytes > sum(x["size"] for x in layers)


def test_an_image_without_an_index_has_no_attestations_and_a_missing_tag_is_one_sentence(
    fake: FakeRegistry,
) -> None:
    fake.add_manifest(REF, {"layers": []}, REF.tag)
    _, (image,) = attest.read(REF)
    assert image.provenance is None and image.sboms == []
    with pytest.raises(XorbError, match=r"127.0.0.1:5000/xorb/api:2.0 does not exist"):
        attest.read(REF.with_tag("2.0"))
