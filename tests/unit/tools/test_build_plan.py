"""Build planning: tags, versions, cache settings and the bake definition (no engine)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from xorb_tools import build
from xorb_tools.build import cache, execution, exports, steps
from xorb_tools.core import ca, inputs, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import secrets_init
from xorb_tools.supply import attest


def api() -> services.Service:
    """The api row, read in the test's namespace (see conftest)."""
    return services.load().service("api")


@pytest.mark.parametrize(
    "version", ["1.2.3", "v1.2.3", "1.0.0-rc.1_build.5", "main", "feature_x-2"]
)
def test_valid_versions(version: str) -> None:
    assert inputs.version(version) == version


@pytest.mark.parametrize(
    "version", ["v1..2", "-x", "a/b", "x" * 129, "has space", "x.lock", "1.0.0+build.5"]
)
def test_invalid_versions(version: str) -> None:
    with pytest.raises(XorbError, match="Invalid version"):
        inputs.version(version)


def test_production_tags_are_version_sha_and_environment() -> None:
    tags = build.tags_for(
        api(),
        version="1.2.3",
        revision="abc123",
        environment="production",
        target="production",
        registry="reg:5000",
    )
    assert tags == [
        "reg:5000/xorb/api:1.2.3",
        "reg:5000/xorb/api:abc123",
        "reg:5000/xorb/api:production",
    ]


def test_other_targets_never_take_the_environment_tag() -> None:
    tags = build.tags_for(
        api(), version="1.2.3", revision="abc", environment="test", target="testing", registry=None
    )
    assert tags == ["xorb/api:1.2.3-testing", "xorb/api:abc-testing", "xorb/api:test-testing"]
    dev = build.tags_for(
        api(),
        version="1.2.3",
        revision="abc",
        environment="development",
        target="development",
        registry=None,
    )
    assert dev[-1] == "xorb/api:development"


def test_auto_cache_mode() -> None:
    assert cache.pick_mode("auto", push=False, env={}) == "local"
    assert cache.pick_mode("auto", push=True, env={}) == "registry"
    runtime = {"GITHUB_ACTIONS": "true", "ACTIONS_RUNTIME_TOKEN": "t", "ACTIONS_CACHE_URL": "u"}
    assert cache.pick_mode("auto", push=False, env=runtime) == "gha"
    assert cache.pick_mode("auto", push=True, env=runtime) == "gha"
    # In a job that never exported the runtime, auto falls back and says so in one line.
    bare = {"GITHUB_ACTIONS": "true"}
    assert cache.pick_mode("auto", push=False, env=bare) == "local"
    note = cache.auto_note("auto", "local", env=bare)
    assert note is not None and "no cache runtime" in note and "\n" not in note
    assert cache.auto_note("auto", "gha", env=runtime) is None
    assert cache.auto_note("local", "local", env=bare) is None
    assert cache.auto_note("auto", "local", env={}) is None
    with pytest.raises(XorbError, match="Unknown cache mode 'disk'"):
        cache.pick_mode("disk", push=False, env={})


def test_local_cache_exports_to_a_fresh_dir_and_reads_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XORB_CACHE_DIR", str(tmp_path))
    first = cache.plan("local", api(), "production", project_root=tmp_path, registry="r")
    assert first.cache_from == []  # nothing cached yet
    assert first.cache_to is not None and first.cache_to["dest"] != str(first.local_dir)
    # simulate the export, then the swap
    assert first.staging_dir is not None and first.local_dir is not None
    first.staging_dir.mkdir(parents=True)
    (first.staging_dir / "index.json").write_text(json.dumps({"manifests": []}))
    first.commit()
    assert (first.local_dir / "index.json").exists() and not first.staging_dir.exists()
    second = cache.plan("local", api(), "production", project_root=tmp_path, registry="r")
    assert second.cache_from == [{"type": "local", "src": str(first.local_dir)}]


def test_failed_build_keeps_the_old_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_CACHE_DIR", str(tmp_path))
    local = tmp_path / "production" / "api"
    local.mkdir(parents=True)
    (local / "index.json").write_text('{"manifests": []}')
    p = cache.plan("local", api(), "production", project_root=tmp_path, registry="r")
    assert p.staging_dir is not None
    p.staging_dir.mkdir()
    (p.staging_dir / "partial").write_text("x")
    p.discard()
    assert not p.staging_dir.exists() and (local / "index.json").exists()


def test_corrupt_local_cache_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XORB_CACHE_DIR", str(tmp_path))
    local = tmp_path / "production" / "api"
    local.mkdir(parents=True)
    (local / "index.json").write_text("{not json")
    with pytest.raises(XorbError, match=r"is corrupt .* remove it or run `inv clean`"):
        cache.plan("local", api(), "production", project_root=tmp_path, registry="r")


def test_registry_and_gha_cache_specs() -> None:
    reg = cache.plan("registry", api(), "staging", project_root=Path(), registry="localhost:5000")
    assert reg.cache_to == {
        "type": "registry",
        "ref": "localhost:5000/xorb/api:buildcache-staging",
        "mode": "max",
        "ignore-error": "true",
    }
    gha = cache.plan("gha", api(), "staging", project_root=Path(), registry="r", target="testing")
    assert gha.cache_from == [{"type": "gha", "scope": "api-staging-testing"}]
    assert gha.cache_to is not None and gha.cache_to["ignore-error"] == "true"
    assert gha.as_bake()["cache-to"] == [
        "type=gha,scope=api-staging-testing,mode=max,ignore-error=true"
    ]
    small = cache.plan("gha", api(), "staging", project_root=Path(), registry="r", gha_export="min")
    assert small.cache_to is not None and small.cache_to["mode"] == "min"
    inline = cache.plan("inline", api(), "staging", project_root=Path(), registry="r")
    assert inline.cache_to == {"type": "inline"}
    assert cache.plan("none", api(), "staging", project_root=Path(), registry="r").cache_to is None


def test_bake_definition_has_one_target_per_service(tmp_path: Path) -> None:
    project = services.load()
    bundle = ca.CaBundle(tmp_path / "ca.pem", "--ca-cert")
    builds = [
        build.ImageBuild(
            svc,
            [svc.ref("1")],
            {"SERVICE": svc.package},
            cache.plan("none", svc, "production", project_root=tmp_path, registry="r"),
        )
        for svc in project.services
    ]
    plan = build.BuildPlan(
        project, build.Options(), "xorb/base:bookworm", "test", bundle, None, builds
    )
    bake = plan.bake_definition()
    assert bake["group"]["default"]["targets"] == ["api", "orchestrator", "worker"]
    api = bake["target"]["api"]
    assert api["dockerfile"] == "docker/Dockerfile" and api["target"] == "production"
    assert api["secret"] == [f"id=ca,src={tmp_path / 'ca.pem'}"]
    assert api["attest"] == ["type=provenance,disabled=true"]
    assert plan.attest_option("provenance") is False and plan.attest_option("sbom") is False
    releasing = dataclasses.replace(
        plan, attest=attest.attestations("max", "xorb/infra-sbom-scanner:1")
    )
    assert releasing.bake_definition()["target"]["api"]["attest"] == [
        "type=provenance,mode=max",
        "type=sbom,generator=xorb/infra-sbom-scanner:1",
    ]
    assert releasing.attest_option("provenance") == {"mode": "max"}
    assert releasing.attest_option("sbom") == {"generator": "xorb/infra-sbom-scanner:1"}
    assert api["output"] == ["type=docker,compression=gzip,force-compression=true"]
    pushing = dataclasses.replace(plan, options=build.Options(push=True))
    assert pushing.output == {
        "type": "image",
        "push": "true",
        "compression": "gzip",
        "force-compression": "true",
    }


def test_ca_bundle_lookup_order(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_bytes(secrets_init.self_signed_pair()[0])
    assert ca.find(None, env={}) is None
    found = ca.find(None, env={"PIP_CERT": str(tmp_path / "missing"), "SSL_CERT_FILE": str(pem)})
    assert found is not None and found.source == "SSL_CERT_FILE"
    explicit = ca.find(str(pem), env={"PIP_CERT": "/nope"})
    assert explicit is not None and explicit.source == "--ca-cert"
    with pytest.raises(XorbError, match="is not a readable file"):
        ca.find(str(tmp_path / "absent.pem"), env={})


def test_step_counter_counts_the_steps_a_build_did_not_run_out_of_the_dockerfiles() -> None:
    totals = {"api": {"base": 2, "production": 3}, "worker": {"base": 2, "production": 3}}
    counter = steps.StepCounter(["api", "worker"], None, totals, {"production"})
    for line in [
        "#1 [internal] load build definition from bake.json",
        "#1 DONE 0.0s",
        "#5 [api production 1/3] COPY src/common /app/src/common",
        "#5 CACHED",
        "#6 [worker production 1/3] COPY src/common /app/src/common",
        "#6 DONE 0.1s",
        "#7 [api base 2/2] RUN useradd",  # one vertex, shared by both targets
        "#7 DONE 1.2s",
        "#8 [worker production 2/3] COPY src/worker /app/src/worker",
        "#8 DONE 0.1s",
    ]:
        counter.feed(line)
    # Totals come from the Dockerfile: the same whatever BuildKit reported this time.
    assert counter.counts("api") == (4, 5)  # ran: base 2/2
    assert counter.counts("worker") == (2, 5)  # ran: base 2/2 (shared), production 1/3, 2/3
    noop = steps.StepCounter(["api"], "api", {"api": totals["api"]})
    noop.feed("#5 [production 3/3] RUN python3 -m compileall -q /app/src")
    noop.feed("#5 CACHED")
    assert noop.counts("api") == (5, 5)


def test_dockerfile_steps_per_target_match_what_buildkit_numbers() -> None:
    from xorb_tools.build import dockerfile
    from xorb_tools.core.services import ROOT

    steps = dockerfile.needed(ROOT / "docker" / "Dockerfile", "production")
    # BuildKit labels these [base 1/2] FROM, [production 3/3] RUN, [deps-service 1/1] ...
    assert (steps["base"], steps["production"], steps["deps-service"]) == (2, 3, 1)
    assert {"rootfs", "runtime", "deps-common", "uv", "lock"} <= set(steps)
    assert "deps-test" not in steps
    testing = dockerfile.needed(ROOT / "docker" / "Dockerfile", "testing")
    assert sum(testing.values()) == sum(steps.values()) + 2  # + deps-test, + its COPY
    specific = dockerfile.per_target(ROOT / "docker" / "Dockerfile", {"SERVICE", "PORT"})
    assert {"deps-service", "production-deps", "production", "testing"} <= specific
    assert not {"base", "uv", "lock", "builder", "deps-common", "rootfs", "runtime"} & specific


# The last lines of a bake whose concurrent local cache exports broke off (CI, docker driver).
_RACE_TAIL = [
    "#60 [worker] exporting cache to client directory",
    "#60 preparing build cache for export 13.6s done",
    "#60 ERROR: error writing layer blob: failed to copy: rpc error: code = Unavailable desc = "
    'connection error: desc = "transport: Error while dialing: only one connection allowed"',
    "#61 [orchestrator] exporting cache to client directory",
    "#61 ERROR: error writing layer blob: error reading from server: EOF: unavailable",
    "ERROR: failed to solve: Unavailable: error writing layer blob: failed to copy",
]


def test_a_broken_concurrent_cache_export_is_recognised() -> None:
    assert execution.export_race(_RACE_TAIL)


@pytest.mark.parametrize(
    "tail",
    [
        ["#12 [api deps-common 1/1] RUN uv pip install", "#12 ERROR: process did not complete"],
        ["#9 exporting to image", "ERROR: failed to solve: no space left on device"],
        [],
    ],
)
def test_other_build_failures_are_not_retried(tail: list[str]) -> None:
    assert not execution.export_race(tail)


def test_the_inputs_fingerprint_ignores_where_the_cache_goes() -> None:
    target = {"target": "production", "args": {"SERVICE": "api"}, "cache-to": ["type=local"]}
    to = {"type": "local", "dest": "/c/api.new-1", "mode": "max", "compression": "zstd"}
    same = exports.fingerprint(target, to, "ctx", "base")
    assert exports.fingerprint(target, {**to, "dest": "/c/api.new-2"}, "ctx", "base") == same
    other_args = {**target, "args": {"SERVICE": "worker"}}
    assert exports.fingerprint(other_args, to, "ctx", "base") != same
    assert exports.fingerprint(target, {**to, "compression": "gzip"}, "ctx", "base") != same
    assert exports.fingerprint(target, to, "ctx2", "base") != same
    assert exports.fingerprint(target, to, "ctx", "base2") != same
