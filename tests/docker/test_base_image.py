"""`inv base-image`: an air-gapped Debian 12 + Python 3.11 base, reproducible and small."""

from __future__ import annotations

import uuid

import pytest

from tests.docker.conftest import run_inv
from xorb_tools.core import engine, images, services
from xorb_tools.core.services import Project
from xorb_tools.rootfs import base_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_base(project: Project) -> str:
    result = run_inv("base-image")
    assert result.code == 0, result.out
    return project.local_base_image


def test_two_builds_give_the_same_rootfs_digest(local_base: str) -> None:
    tag = f"{services.load().namespace}/base:repro-{uuid.uuid4().hex[:6]}"
    try:
        again = base_image.build(tag, force=True)
        assert again.built
        assert again.rootfs_digest == base_image.rootfs_digest(local_base)
    finally:
        engine.client().image.remove(tag, force=True)


def test_base_is_small_has_python_311_and_venv_works(local_base: str) -> None:
    size_mb = images.uncompressed_size(local_base) / images.MB
    assert size_mb <= 130, f"{size_mb:.1f} MB"
    out = engine.client().container.run(
        local_base,
        [
            "sh",
            "-c",
            "python3 --version && python3 -m venv /tmp/v && /tmp/v/bin/python -c "
            "'import sys; print(sys.prefix)' && id xorb",
        ],
        remove=True,
    )
    text = str(out)
    assert "Python 3.11." in text
    assert "/tmp/v" in text
    assert "uid=1000(xorb) gid=1000(xorb)" in text


def test_base_image_is_idempotent(local_base: str) -> None:
    digest = base_image.rootfs_digest(local_base)
    result = run_inv("base-image")
    assert result.code == 0 and "exists" in result.out
    assert base_image.rootfs_digest(local_base) == digest
