"""arm64 images under QEMU emulation (``bash scripts/provision.sh --qemu``): the api built
for linux/amd64 and linux/arm64 in one ``inv build --platform ... --push``, one index in the
local registry with provenance and an SBOM for both, and the arm64 image's import smoke
test run under emulation. A platform the host cannot build is one sentence."""

from __future__ import annotations

import json

import pytest

from tests.docker.conftest import run_inv
from xorb_tools.core import engine, registry
from xorb_tools.core.services import Project
from xorb_tools.supply import attest

pytestmark = [pytest.mark.docker, pytest.mark.slow]
REGISTRY = "127.0.0.1:5000"
VERSION = "0.0.0-multiarch"
PLATFORMS = "linux/amd64,linux/arm64"


@pytest.fixture(scope="module")
def index(project: Project) -> registry.Ref:
    built = run_inv(
        "build", "api", "--platform", PLATFORMS, "--push", "--registry", REGISTRY,
        "--version", VERSION, "--quiet",
    )  # fmt: skip
    assert built.code == 0, built.out[-3000:]
    return registry.Ref.parse(project.service("api").ref(VERSION, REGISTRY))


def test_one_index_holds_both_platforms_each_with_provenance_and_an_sbom(
    index: registry.Ref,
) -> None:
    _, found = attest.read(index)
    assert sorted(p.platform for p in found) == ["linux/amd64", "linux/arm64"]
    for image in found:
        assert image.provenance is not None and image.packages > 50, image.platform


def test_the_arm64_image_runs_its_import_smoke_test_under_emulation(
    index: registry.Ref, project: Project
) -> None:
    ref = f"{index.host}/{index.repository}:{index.tag}"
    client = engine.client()
    client.image.pull(ref, platform="linux/arm64", quiet=True)
    out = client.container.run(
        ref,
        [
            "python3",
            "-c",
            "import json, platform, api.__main__; print(json.dumps(platform.machine()))",
        ],
        platform="linux/arm64",
        envs={"XORB_ENV": "test"},
        entrypoint="",
        remove=True,
    )
    assert json.loads(str(out).strip().splitlines()[-1]) == "aarch64"


def test_the_arm64_image_is_sized_in_the_registry(index: registry.Ref) -> None:
    found = registry.get_manifest(index)
    assert found is not None
    manifests = json.loads(found[1])["manifests"]
    arm = next(m for m in manifests if (m.get("platform") or {}).get("architecture") == "arm64")
    _, body = registry.get_manifest(index, arm["digest"]) or ("", b"{}")
    compressed = sum(layer["size"] for layer in json.loads(body)["layers"])
    assert 20e6 < compressed < 80e6, compressed


def test_an_unknown_platform_or_a_local_multi_platform_build_is_one_sentence() -> None:
    bad = run_inv("build", "api", "--platform", "linux/sparc64")
    assert bad.code != 0 and bad.lines[-1].startswith("error: Unknown platform 'linux/sparc64'")
    local = run_inv("build", "api", "--platform", PLATFORMS)
    assert local.code != 0 and "add --push" in local.lines[-1], local.out
