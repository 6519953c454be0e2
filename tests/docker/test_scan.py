"""`inv security-scan` against the real engine and the real trivy and hadolint binaries:
our production images, an image with a planted credential, a Dockerfile running as root.

Every run uses ``--offline`` and a trivy cache without a vulnerability database (a copy
of the repository's layer cache, so reruns stay fast): the vulnerability scanner's
"not run" path is exercised on any host, connected or not."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.conftest import copy_repo, run_inv
from xorb_tools.core import engine
from xorb_tools.core.services import ROOT, Project

pytestmark = pytest.mark.docker

FIXTURES = ROOT / "tests" / "fixtures"
REPORTS = ROOT / "reports" / "security"
PLANTED_TAG = "planted-secret-test"


@pytest.fixture(scope="module")
def no_db_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A trivy cache with the layer cache but never a vulnerability database."""
    cache = tmp_path_factory.mktemp("trivy-cache")
    fanal = ROOT / ".cache" / "trivy" / "fanal"
    if fanal.is_dir():
        shutil.copytree(fanal, cache / "fanal")
    return str(cache)


def scan(cache: str, *args: str) -> tuple[int, str]:
    result = run_inv("security-scan", "--offline", "--cache-dir", cache, *args)
    assert "Traceback" not in result.out, result.out
    return result.code, result.out


def error_line(out: str) -> str:
    errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, out
    return errors[0]


def test_without_a_database_vulns_are_not_run_and_the_scan_fails(
    production: dict[str, str], project: Project, no_db_cache: str
) -> None:
    code, out = scan(no_db_cache)
    assert code != 0, out
    error = error_line(out)
    names = ", ".join(s.name for s in project.services)
    assert f"vuln scanner NOT RUN on {names}" in error
    assert "--download-db-only" in error and "--skip-vuln" in error
    assert "no vulnerabilities" not in out.lower()
    summary = json.loads((REPORTS / "summary.json").read_text())
    assert summary["passed"] is False
    by_key = {(r["subject"], r["scanner"]): r for r in summary["results"]}
    for svc in project.services:
        assert by_key[(svc.name, "vuln")]["status"] == "not run"
        assert by_key[(svc.name, "vuln")]["counts"] is None
        # our images: no secrets, no misconfiguration at all
        assert sum(by_key[(svc.name, "secret")]["counts"].values()) == 0
        assert by_key[(svc.name, "misconfig")]["blocking"] == []
        stem = REPORTS / f"{svc.name}-production"
        for suffix in (".json", ".sarif", ".cdx.json"):
            assert Path(f"{stem}{suffix}").is_file(), f"{stem}{suffix}"
        sbom = json.loads(Path(f"{stem}.cdx.json").read_text())
        assert sbom["bomFormat"] == "CycloneDX" and sbom["components"]
    assert by_key[("docker/", "misconfig")]["blocking"] == []
    assert by_key[("docker/", "hadolint")]["blocking"] == []
    sarif = json.loads((REPORTS / "security.sarif").read_text())
    assert sarif["version"] == "2.1.0" and len(sarif["runs"]) >= len(project.services) + 2


def test_with_skip_vuln_our_images_and_dockerfiles_pass(
    production: dict[str, str], project: Project, no_db_cache: str
) -> None:
    # The guide's words: the services named as plain words after the task.
    code, out = scan(no_db_cache, *(s.name for s in project.services), "--skip-vuln")
    assert code == 0, out
    assert "NOT RUN" not in out and "skipped" in out
    assert "FAIL" not in out
    summary = json.loads((REPORTS / "summary.json").read_text())
    scanned = {r["subject"] for r in summary["results"] if r["scanner"] == "secret"}
    assert scanned == {s.name for s in project.services}


@pytest.fixture(scope="module")
def planted_image(production: dict[str, str], project: Project) -> Iterator[str]:
    """<namespace>/api:production plus a fake AWS key and a fake private key in a layer."""
    api = project.service("api")
    ref = api.ref(PLANTED_TAG)
    client = engine.client()
    with engine.docker_errors("building the planted-credential fixture"):
        client.buildx.build(
            FIXTURES / "secrets",
            file=FIXTURES / "secrets" / "planted-secret.dockerfile",
            tags=[ref],
            build_args={"BASE": api.ref("production")},
            load=True,
            progress=False,
        )
    yield ref
    client.image.remove(ref, force=True)


def test_a_planted_credential_in_a_layer_fails_the_scan_naming_the_file(
    planted_image: str, no_db_cache: str
) -> None:
    code, out = scan(no_db_cache, "--service", "api", "--tag", PLANTED_TAG, "--skip-vuln")
    assert code != 0, out
    error = error_line(out)
    assert "api: secret private-key (HIGH) in /app/config/deploy-key.pem" in error
    assert "api: secret aws-access-key-id (CRITICAL) in /app/config/aws-credentials" in error


def test_a_dockerfile_running_as_root_is_caught_by_trivy_and_hadolint(no_db_cache: str) -> None:
    code, out = scan(no_db_cache, "--skip-images", "--config-dir", "tests/fixtures/misconfig")
    assert code != 0, out
    error = error_line(out)
    assert "misconfig AVD-DS-0002 (HIGH) in root.dockerfile:5" in error
    assert "hadolint DL3002 (MEDIUM) in tests/fixtures/misconfig/root.dockerfile:5" in error


def test_a_live_entry_of_trivys_own_ignore_file_is_honoured(
    tmp_path: Path, no_db_cache: str
) -> None:
    # trivy reads .trivyignore.yaml itself: the accepted check is gone, hadolint's is not
    repo = copy_repo(tmp_path / "repo")
    (repo / ".trivyignore.yaml").write_text(
        "misconfigurations:\n  - id: AVD-DS-0002\n    paths: [root.dockerfile]\n"
        "    statement: the fixture runs as root on purpose\n    expired_at: 2099-12-31\n"
    )
    result = run_inv(
        "security-scan",
        "--skip-images",
        "--offline",
        "--cache-dir",
        no_db_cache,
        "--config-dir",
        "tests/fixtures/misconfig",
        cwd=repo,
    )
    assert result.code != 0, result.out
    error = error_line(result.out)
    assert "AVD-DS-0002" not in error
    assert "hadolint DL3002 (MEDIUM) in tests/fixtures/misconfig/root.dockerfile:5" in error


def test_an_expired_ignore_entry_fails_before_scanning(tmp_path: Path, no_db_cache: str) -> None:
    repo = copy_repo(tmp_path / "repo")
    (repo / ".trivyignore.yaml").write_text(
        "misconfigurations:\n  - id: AVD-DS-0026\n    statement: old\n    expired_at: 2020-01-01\n"
    )
    result = run_inv(
        "security-scan", "--skip-images", "--offline", "--cache-dir", no_db_cache, cwd=repo
    )
    assert result.code != 0
    assert "AVD-DS-0026 (expired 2020-01-01)" in error_line(result.out)
