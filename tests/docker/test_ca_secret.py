"""The proxy CA handed to the build as a BuildKit secret never lands in the image."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path

import certifi
import pytest

from tests.docker.conftest import run_inv
from xorb_tools.core import ca, engine, images
from xorb_tools.core.services import Project
from xorb_tools.deploy import secrets_init

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _all_bytes_of(ref: str, workdir: Path) -> bytes:
    """Every layer's files, the config and the manifest of a saved image, concatenated."""
    saved = workdir / "image.tar"
    engine.client().image.save(ref, output=saved)
    chunks: list[bytes] = []
    with tarfile.open(saved) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member)
            assert data is not None
            blob = data.read()
            chunks.append(blob)
            try:  # layers are (possibly gzipped) tars: look inside them too
                with tarfile.open(fileobj=io.BytesIO(blob)) as layer:
                    for inner in layer.getmembers():
                        if inner.isfile():
                            f = layer.extractfile(inner)
                            if f is not None:
                                chunks.append(inner.name.encode() + b"\0" + f.read())
            except tarfile.TarError:
                pass
    return b"\n".join(chunks)


def test_ca_bundle_is_used_but_never_stored(project: Project, tmp_path: Path) -> None:
    # The host's bundle (a proxy's CA) or, on a host without one, the public roots; either
    # way plus a throwaway CA of this run and a marker, all of which must stay out of the image.
    host = ca.find()
    roots = host.path if host is not None else Path(certifi.where())
    throwaway, _ = secrets_init.self_signed_pair([f"xorb-throwaway-ca-{uuid.uuid4().hex[:8]}"])
    marker = f"xorb-ca-marker-{uuid.uuid4().hex}"
    bundle = tmp_path / "proxy-ca.pem"
    # Text outside PEM blocks is ignored by TLS libraries, so the bundle still works.
    bundle.write_text(f"# {marker}\n" + roots.read_text() + throwaway.decode())
    bundle.chmod(0o644)
    version = f"0.0.1-ca{uuid.uuid4().hex[:6]}"
    # Re-run the installing stages so the secret is really mounted in this build.
    result = run_inv(
        "build",
        "--service",
        "api",
        "--version",
        version,
        "--ca-cert",
        str(bundle),
        "--no-cache-filter",
        "deps-common",
        "--no-cache-filter",
        "deps-service",
    )
    assert result.code == 0, result.out
    assert f"{bundle} from --ca-cert" in result.out
    assert "deps-common" in result.out and "--mount=type=secret,id=ca" in result.out
    ref = project.service("api").ref(version)
    config = json.dumps(images.inspect_raw(ref))
    assert marker not in config and str(bundle) not in config
    history = json.dumps(images.history_raw(ref))
    assert marker not in history and str(bundle) not in history
    everything = _all_bytes_of(ref, tmp_path)
    assert marker.encode() not in everything
    body = [ln for ln in throwaway.decode().splitlines() if ln and "-----" not in ln]
    assert not [ln for ln in body if ln.encode() in everything]
    assert str(bundle).encode() not in everything
    engine.client().image.remove(ref, force=True)
