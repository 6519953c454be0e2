"""Platforms without an engine: names, the host's architecture, when a build is
multi-platform, the emulation check, and mmdebstrap for a foreign architecture."""

from __future__ import annotations

from pathlib import Path

import pytest

from xorb_tools.build import planning
from xorb_tools.core.errors import XorbError
from xorb_tools.rootfs import base_image, platforms


def test_platform_names_and_one_sentence_for_an_unknown_one() -> None:
    assert platforms.arch_of("linux/arm64") == "arm64"
    assert platforms.arch_of("linux/arm64/v8") == "arm64"
    for bad in ("linux/sparc64", "windows/amd64", "arm64"):
        with pytest.raises(XorbError, match="choose linux/amd64 or linux/arm64"):
            platforms.arch_of(bad)


def test_only_another_architecture_makes_a_multi_platform_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert platforms.host_arch() == "amd64"
    assert not planning._foreign(())
    assert not planning._foreign(("linux/amd64",))
    assert planning._foreign(("linux/arm64",))
    assert planning._foreign(("linux/amd64", "linux/arm64"))


def test_a_foreign_platform_without_a_qemu_handler_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    monkeypatch.setattr(platforms, "BINFMT", tmp_path)
    platforms.require_emulation(["linux/amd64"])  # the host's own: nothing needed
    with pytest.raises(XorbError, match=r"linux/arm64 needs QEMU .*provision\.sh --qemu"):
        platforms.require_emulation(["linux/amd64", "linux/arm64"])
    (tmp_path / "qemu-aarch64").write_text("disabled\n")
    with pytest.raises(XorbError, match="needs QEMU"):
        platforms.require_emulation(["linux/arm64"])
    (tmp_path / "qemu-aarch64").write_text("enabled\ninterpreter /usr/libexec/qemu\n")
    platforms.require_emulation(["linux/arm64"])


def test_the_base_for_another_architecture_is_bootstrapped_for_it() -> None:
    native = base_image.mmdebstrap_argv(Path("/out.tar"), "http://mirror")
    arm = base_image.mmdebstrap_argv(Path("/out.tar"), "http://mirror", arch="arm64")
    assert "--architectures=arm64" in arm and not any("--architectures" in a for a in native)
    assert arm[-3:] == native[-3:] == ["bookworm", "/out.tar", "http://mirror"]
