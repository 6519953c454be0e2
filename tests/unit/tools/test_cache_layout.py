"""Cache housekeeping: primed local exports, garbage collection, fingerprints, and the
registry cache's inputs marker (no engine)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from xorb_tools.build import cache, cache_layout, context
from xorb_tools.core import registry, services
from xorb_tools.core.errors import XorbError


def api() -> services.Service:
    """The api row, read in the test's namespace (see conftest)."""
    return services.load().service("api")


INDEX = "application/vnd.oci.image.index.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.buildkit.cacheconfig.v0"


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"sha256:{digest}"


def _layout(layout: Path, layers: list[bytes], stale: list[bytes]) -> dict[str, str]:
    """An OCI layout as BuildKit's local cache writes it: index -> cache index -> blobs."""
    layout.mkdir(parents=True, exist_ok=True)
    descs = [{"mediaType": LAYER, "digest": _blob(layout, d), "size": len(d)} for d in layers]
    config = b'{"layers": []}'
    descs.append({"mediaType": CONFIG, "digest": _blob(layout, config), "size": len(config)})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": descs}).encode()
    top = {"mediaType": INDEX, "digest": _blob(layout, manifest), "size": len(manifest)}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return {d.decode(): _blob(layout, d) for d in stale}


def _blobs(layout: Path) -> set[str]:
    return {p.name for p in (layout / "blobs" / "sha256").iterdir()}


def test_garbage_collection_keeps_what_the_index_reaches(tmp_path: Path) -> None:
    stale = _layout(tmp_path, [b"layer-a", b"layer-b"], [b"old-layer"])
    (tmp_path / "ingest" / "partial").mkdir(parents=True)
    freed = cache_layout.collect_garbage(tmp_path)
    assert freed == len(b"old-layer")
    assert stale["old-layer"].split(":")[1] not in _blobs(tmp_path)
    assert len(_blobs(tmp_path)) == 4  # two layers, the cache config, the cache index
    assert not (tmp_path / "ingest").exists()


def test_primed_export_links_blobs_and_never_the_index(tmp_path: Path) -> None:
    old = tmp_path / "old"
    _layout(old, [b"layer-a"], [])
    new = tmp_path / "new"
    assert cache_layout.link_blobs(old, new) == 3
    assert _blobs(new) == _blobs(old)
    assert not (new / "index.json").exists()
    some = next((new / "blobs" / "sha256").iterdir())
    assert some.stat().st_ino == (old / "blobs" / "sha256" / some.name).stat().st_ino


def _plan(root: Path) -> cache.CachePlan:
    return cache.plan("local", api(), "production", project_root=root, registry="r")


@pytest.fixture
def first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> cache.CachePlan:
    """The api()'s local cache after one build with inputs "f1" (one blob left over)."""
    monkeypatch.setenv("XORB_CACHE_DIR", str(tmp_path))
    plan = _plan(tmp_path)
    assert plan.staging_dir is not None
    plan.skip_export("f1")
    _layout(plan.staging_dir, [b"layer-a"], [b"left-over"])
    plan.commit()
    return plan


def test_commit_collects_garbage_and_records_the_fingerprint(first: cache.CachePlan) -> None:
    assert first.local_dir is not None
    assert (first.local_dir / cache.FINGERPRINT_FILE).read_text().strip() == "f1"
    assert len(_blobs(first.local_dir)) == 3  # "left-over" was dropped


def test_same_inputs_skip_the_export_other_inputs_prime_it(
    tmp_path: Path, first: cache.CachePlan
) -> None:
    again = _plan(tmp_path)
    assert again.skip_export("f1")
    assert again.cache_to is None and again.cache_from  # still reads the cache
    again.prepare()
    again.commit()  # nothing to swap: the old cache stays
    assert first.local_dir is not None and (first.local_dir / "index.json").exists()

    changed = _plan(tmp_path)
    assert not changed.skip_export("f2")
    assert changed.cache_to is not None and changed.staging_dir is not None
    changed.prepare()
    assert _blobs(changed.staging_dir) == _blobs(first.local_dir)
    changed.discard()  # a failed build: the primed directory goes, the old cache stays
    assert not changed.staging_dir.exists() and len(_blobs(first.local_dir)) == 3


def test_an_export_that_wrote_no_index_keeps_the_old_cache(
    tmp_path: Path, first: cache.CachePlan
) -> None:
    nxt = _plan(tmp_path)
    nxt.skip_export("f2")
    nxt.prepare()  # blobs linked, but BuildKit never got to write index.json
    nxt.commit()
    assert first.local_dir is not None
    assert (first.local_dir / cache.FINGERPRINT_FILE).read_text().strip() == "f1"
    assert nxt.staging_dir is not None and not nxt.staging_dir.exists()


def test_context_digest_follows_the_dockerignore(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*\n!src/\n**/__pycache__\n")
    (tmp_path / "src" / "__pycache__").mkdir(parents=True)
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("not in the context\n")
    dockerfile = Path("Dockerfile")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert context.files(tmp_path, dockerfile) == [".dockerignore", "Dockerfile", "src/a.py"]
    before = context.digest(tmp_path, dockerfile)
    (tmp_path / "README.md").write_text("changed, still ignored\n")
    (tmp_path / "src" / "__pycache__" / "a.pyc").write_bytes(b"ignored")
    assert context.digest(tmp_path, dockerfile) == before
    (tmp_path / "src" / "a.py").write_text("x = 2\n")
    assert context.digest(tmp_path, dockerfile) != before


def test_a_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / ".dockerignore").write_text("*\n")
    (tmp_path / "docker" / "Dockerfile.dockerignore").write_text("secrets\n")
    assert context.ignore_file(tmp_path, Path("docker/Dockerfile")) == (
        tmp_path / "docker" / "Dockerfile.dockerignore"
    )


class FakeRegistry:
    """Tags and inputs markers of one repository, as :mod:`xorb_tools.core.registry` sees them."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.markers: dict[str, tuple[str, str]] = {}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(registry, "manifest_digest", lambda ref: self.tags.get(ref.tag))
        monkeypatch.setattr(registry, "read_marker", lambda ref: self.markers.get(ref.tag))

        def write(ref: registry.Ref, inputs: str, digest: str) -> bool:
            self.markers[ref.tag] = (inputs, digest)
            return True

        monkeypatch.setattr(registry, "write_marker", write)


def _registry_build(fake: FakeRegistry, inputs: str, exported: str | None) -> bool:
    """One build with registry cache: whether it skipped the export. ``exported`` is the
    manifest digest the export leaves under the tag (None: the export did not happen)."""
    plan = cache.plan("registry", api(), "production", project_root=Path(), registry="r:5000")
    assert plan.remote is not None and plan.remote.tag == "buildcache-production"
    skipped = plan.skip_export(inputs)
    assert (plan.cache_to is None) == skipped and plan.cache_from  # always reads the cache
    if not skipped and exported:
        fake.tags[plan.remote.tag] = exported
    plan.commit()
    return skipped


def test_a_registry_cache_is_exported_again_only_when_its_marker_does_not_vouch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeRegistry()
    fake.install(monkeypatch)
    assert not _registry_build(fake, "f1", "sha256:one")  # no cache yet
    assert fake.markers == {"buildcache-production": ("f1", "sha256:one")}
    assert _registry_build(fake, "f1", None)  # same inputs, same manifest under the tag
    assert not _registry_build(fake, "f2", "sha256:two")  # other inputs
    assert fake.markers["buildcache-production"] == ("f2", "sha256:two")
    fake.tags["buildcache-production"] = "sha256:someone-else"  # another build overwrote it
    assert not _registry_build(fake, "f2", "sha256:two-again")
    assert _registry_build(fake, "f2", None)


def test_a_registry_export_that_left_the_tag_alone_is_not_vouched_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeRegistry()
    fake.install(monkeypatch)
    fake.tags["buildcache-production"] = "sha256:old"  # written by another build's inputs
    assert not _registry_build(fake, "f1", None)  # the export failed (ignore-error)
    assert fake.markers == {}
    assert not _registry_build(fake, "f1", "sha256:new")
    assert _registry_build(fake, "f1", None)


def test_registry_refs_and_an_unreachable_registry() -> None:
    ref = registry.Ref.parse("localhost:5000/xorb/api:buildcache-production")
    assert (ref.host, ref.repository, ref.tag) == ("localhost:5000", "xorb/api", ref.tag)
    assert registry.marker_ref(ref).tag == "buildcache-production-inputs"
    for bad in ("xorb/api", "localhost:5000/xorb/api", "host/repo:tag/x"):
        with pytest.raises(XorbError):
            registry.Ref.parse(bad)
    gone = registry.Ref.parse("127.0.0.1:1/xorb/api:buildcache-production")
    assert registry.manifest_digest(gone) is None
    assert registry.read_marker(gone) is None
    assert registry.write_marker(gone, "f1", "sha256:one") is False
