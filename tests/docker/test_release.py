"""``inv release``, ``inv sign`` and ``inv verify`` against the local registry, as a user runs
them: every pushed service carries provenance and an SBOM (as ``docker buildx imagetools``
shows them), its signature verifies with the standard tool (cosign), and verification
fails in one sentence for an unsigned image, a re-pushed tag and a missing SBOM.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.docker.conftest import Inv, run_inv
from tests.docker.test_compose import PROD_ENV, project_containers
from xorb_tools.core import engine, gitinfo, names, registry
from xorb_tools.core.services import ROOT, Project

REGISTRY = "127.0.0.1:5000"
RELEASE = "0.0.0-release"
UNSIGNED = "0.0.0-unsigned"
NO_SBOM = "0.0.0-nosbom"
pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """A key pair of the module's own: the signing key reaches the tasks as CI hands it
    over (XORB_SIGNING_KEY), the public key is given to verify with --key."""
    folder = tmp_path_factory.mktemp("keys")
    made = run_inv("keygen", "--out", str(folder))
    assert made.code == 0, made.out
    assert (folder / "cosign.key").stat().st_mode & 0o077 == 0
    return {"XORB_SIGNING_KEY": str(folder / "cosign.key")}, folder / "cosign.pub"


@pytest.fixture(scope="module")
def released(keys: tuple[dict[str, str], Path]) -> Inv:
    env, _ = keys
    result = run_inv("release", "--version", RELEASE, "--registry", REGISTRY, env=env)
    assert result.code == 0, result.out[-3000:]
    return result


def _imagetools(ref: str, field: str) -> dict[str, object]:
    done = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", ref, "--format", f"{{{{json .{field}}}}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    value = json.loads(done.stdout or "null")
    assert isinstance(value, dict), f"{ref} shows no {field}: {done.stdout[:300]}"
    return value


def _verify(version: str, pub: Path, *extra: str) -> Inv:
    return run_inv(
        "verify", "--version", version, "--registry", REGISTRY, "--key", str(pub), *extra
    )


def _one_error(result: Inv) -> str:
    assert result.code != 0, result.out
    assert "Traceback" not in result.out, result.out
    errors = [ln for ln in result.lines if ln.startswith("error:")]
    assert len(errors) == 1, result.out
    return errors[0]


def test_release_pushes_provenance_and_an_sbom_for_every_service(
    released: Inv, project: Project
) -> None:
    head = gitinfo.read(ROOT).revision
    for svc in project.services:
        ref = svc.ref(RELEASE, REGISTRY)
        slsa = _imagetools(ref, "Provenance")["SLSA"]
        assert isinstance(slsa, dict)
        metadata = slsa["metadata"]["https://mobyproject.org/buildkit@v1#metadata"]
        assert metadata["vcs"]["revision"] == head, metadata
        assert slsa["invocation"]["parameters"]["args"], "mode=max records the build arguments"
        spdx = _imagetools(ref, "SBOM")["SPDX"]
        assert isinstance(spdx, dict)
        names = {p["name"] for p in spdx["packages"]}
        # the OS packages and the service's Python dependencies, found offline by trivy
        assert {"python3.11", "pydantic"} <= names, sorted(names)[:40]
    assert f"Verified {len(project.services)} image(s)" in released.out


def test_cosign_verifies_the_signatures(
    released: Inv, project: Project, keys: tuple[dict[str, str], Path]
) -> None:
    cosign = shutil.which("cosign")
    assert cosign, "scripts/provision.sh installs Debian's cosign"
    _, pub = keys
    for svc in project.services:
        done = subprocess.run(
            [cosign, "verify", "--key", str(pub), "--insecure-ignore-tlog=true",
             "--allow-http-registry", svc.ref(RELEASE, REGISTRY)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        claims = json.loads(done.stdout)
        digest = registry.manifest_digest(registry.Ref.parse(svc.ref(RELEASE, REGISTRY)))
        assert claims[0]["critical"]["image"]["docker-manifest-digest"] == digest


def test_verify_fails_for_an_unsigned_image(
    keys: tuple[dict[str, str], Path], project: Project
) -> None:
    _, pub = keys
    built = run_inv(
        "build", "--push", "--registry", REGISTRY, "--version", UNSIGNED, "--service", "api",
        "--quiet",
    )  # fmt: skip
    assert built.code == 0, built.out[-2000:]
    error = _one_error(_verify(UNSIGNED, pub, "--service", "api"))
    assert project.service("api").ref(UNSIGNED, REGISTRY) in error and "is not signed" in error


def test_verify_fails_when_the_sbom_is_missing(
    keys: tuple[dict[str, str], Path], project: Project
) -> None:
    env, pub = keys
    args = ("--registry", REGISTRY, "--version", NO_SBOM, "--service", "api")
    built = run_inv("build", "--push", "--sbom", "off", "--quiet", *args)
    assert built.code == 0, built.out[-2000:]
    signed = run_inv("sign", *args, env=env)
    assert signed.code == 0, signed.out
    error = _one_error(_verify(NO_SBOM, pub, "--service", "api"))
    assert "carries no SBOM attestation" in error, error
    assert project.service("api").ref(NO_SBOM, REGISTRY) in error


def test_verify_fails_for_another_key(released: Inv, tmp_path: Path) -> None:
    other = run_inv("keygen", "--out", str(tmp_path))
    assert other.code == 0, other.out
    error = _one_error(_verify(RELEASE, tmp_path / "cosign.pub", "--service", "worker"))
    assert "has no valid signature by this key" in error, error


def test_deploy_verify_refuses_an_unsigned_release_before_changing_anything(
    keys: tuple[dict[str, str], Path], project: Project
) -> None:
    _, pub = keys
    api = project.service("api")
    client = engine.client()
    if client.image.exists(api.ref(UNSIGNED)):
        client.image.remove(api.ref(UNSIGNED), force=True)
    result = run_inv(
        "deploy", "--environment", "production", "--verify", "--version", UNSIGNED,
        "--registry", REGISTRY, "--key", str(pub),
    )  # fmt: skip
    assert "is not signed" in _one_error(result)
    assert not client.image.exists(api.ref(UNSIGNED)), "nothing is pulled before it verifies"
    assert not project_containers("production")


def test_deploy_verify_runs_exactly_the_verified_digests(
    released: Inv, keys: tuple[dict[str, str], Path], project: Project, tmp_path: Path
) -> None:
    _, pub = keys
    secrets = tmp_path / "secrets"
    made = run_inv("secrets.init", "--environment", "production", "--secrets-dir", str(secrets))
    assert made.code == 0, made.out
    release = {s.name: registry.Ref.parse(s.ref(RELEASE, REGISTRY)) for s in project.services}
    digests = {name: registry.manifest_digest(ref) for name, ref in release.items()}
    try:
        result = run_inv(
            "deploy", "--environment", "production", "--verify", "--version", RELEASE,
            "--registry", REGISTRY, "--key", str(pub), "--secrets-dir", str(secrets),
            env=PROD_ENV,
        )  # fmt: skip
        assert result.code == 0, result.out[-3000:]
        assert f"Verified release {RELEASE}" in result.out
        client = engine.client()
        for name, digest in digests.items():  # the local tag is the verified index
            assert client.image.inspect(project.service(name).ref(RELEASE)).id == digest
        running = {
            str(c.image) for c in client.container.list(
                filters={"label": f"com.docker.compose.project={names.project_name('production')}"}
            )
        }  # fmt: skip
        assert {digests["api"], digests["worker"], digests["orchestrator"]} <= running
    finally:
        run_inv("down", "--environment", "production", "--volumes")


def test_the_size_report_shows_the_attestations_byte_cost(
    released: Inv, production: dict[str, str], project: Project
) -> None:
    report = run_inv(
        "size-report", "--no-dive", "--release", RELEASE, "--registry", REGISTRY,
        "--format", "json",
    )  # fmt: skip
    assert report.code == 0, report.out[-2000:]
    published = json.loads(report.out[: report.out.rindex("}") + 1])["published"]
    assert {(p["service"], p["platform"]) for p in published} == {
        (s.name, "linux/amd64") for s in project.services
    }
    for row in published:  # an SBOM and max provenance: tens to hundreds of kB, not MB
        assert 20_000 < row["attestation_bytes"] < 5_000_000, row
        assert row["compressed_bytes"] > 20_000_000, row


# Last: it re-pushes the release's api tag, which the tests above need signed.
def test_verify_fails_for_a_tag_re_pushed_from_another_build(
    released: Inv, keys: tuple[dict[str, str], Path], project: Project
) -> None:
    _, pub = keys
    assert _verify(RELEASE, pub, "--service", "api").code == 0
    api = registry.Ref.parse(project.service("api").ref(RELEASE, REGISTRY))
    signed = registry.manifest_digest(api)
    rebuilt = run_inv(
        "build", "--push", "--registry", REGISTRY, "--version", RELEASE, "--service", "api",
        "--quiet",
    )  # fmt: skip
    assert rebuilt.code == 0, rebuilt.out[-2000:]
    assert registry.manifest_digest(api) != signed
    error = _one_error(_verify(RELEASE, pub, "--service", "api"))
    assert "is not signed" in error and api.tag in error, error
