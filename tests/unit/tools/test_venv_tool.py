"""docker/venv-tool.py's ``slim --sourceless``: bytecode where the source was, no source left,
and the package still imports (as it must in the production images)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.elf import section_names

from xorb_tools.core.services import ROOT

TOOL = ROOT / "docker" / "venv-tool.py"


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _plant(site: Path) -> None:
    pkg = site / "demo"
    (pkg / "tests").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from demo.core import answer\n")
    (pkg / "core.py").write_text("def answer() -> int:\n    return 42\n")
    (pkg / "core.pyi").write_text("def answer() -> int: ...\n")
    (pkg / "speedups.pyx").write_text("# cython source\n")
    (pkg / "tests" / "test_core.py").write_text("def test(): pass\n")


def test_sourceless_keeps_only_bytecode_and_still_imports(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    _plant(site)
    done = _tool("slim", str(tmp_path), "--sourceless")
    assert done.returncode == 0, done.stderr
    pkg = site / "demo"
    assert sorted(p.name for p in pkg.iterdir()) == ["__init__.pyc", "core.pyc"]
    ran = subprocess.run(
        [sys.executable, "-c", "import demo; print(demo.answer(), demo.__file__)"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["42", str(pkg / "__init__.pyc")]


def test_default_slim_keeps_sources_with_cached_bytecode(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    _plant(site)
    done = _tool("slim", str(tmp_path))
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (site / "demo").iterdir())
    assert names == ["__init__.py", "__pycache__", "core.py", "speedups.pyx"]


def test_unknown_slim_option_is_a_usage_error(tmp_path: Path) -> None:
    assert _tool("slim", str(tmp_path), "--sourcless").returncode == 2


def test_delta_holds_what_changed_not_what_a_layer_round_trip_retouched(tmp_path: Path) -> None:
    """A cache import keeps whole-second mtimes only: that alone must not make a file new."""
    venv = tmp_path / "opt" / "venv"
    (venv / "lib").mkdir(parents=True)
    kept, changed = venv / "lib" / "kept.pyc", venv / "lib" / "changed.pyc"
    kept.write_bytes(b"same bytes")
    changed.write_bytes(b"old bytes")
    manifest = tmp_path / "common.manifest"
    assert _tool("manifest", str(venv), str(manifest)).returncode == 0
    whole = int(kept.stat().st_mtime) - 5
    os.utime(kept, (whole, whole))  # as after an export and import through a layer
    changed.write_bytes(b"new bytes")
    (venv / "lib" / "added.pyc").write_bytes(b"added")
    dest = tmp_path / "delta"
    assert _tool("delta", str(manifest), str(venv), str(dest)).returncode == 0
    copied = sorted(p.name for p in dest.rglob("*") if p.is_file())
    assert copied == ["added.pyc", "changed.pyc"]


def test_delta_move_leaves_the_venv_as_the_manifest_found_it(tmp_path: Path) -> None:
    venv = tmp_path / "opt" / "venv"
    (venv / "lib").mkdir(parents=True)
    (venv / "lib" / "common.pyc").write_bytes(b"common")
    manifest = tmp_path / "common.manifest"
    assert _tool("manifest", str(venv), str(manifest)).returncode == 0
    (venv / "lib" / "pkg" / "sub").mkdir(parents=True)
    (venv / "lib" / "pkg" / "sub" / "mod.pyc").write_bytes(b"service")
    (venv / "lib" / "single.pyc").write_bytes(b"single")
    (venv / "lib" / "link").symlink_to("single.pyc")
    dest = tmp_path / "delta"
    assert _tool("delta", str(manifest), str(venv), str(dest), "--move").returncode == 0
    assert sorted(str(p.relative_to(venv)) for p in venv.rglob("*")) == ["lib", "lib/common.pyc"]
    moved = dest / str(venv).lstrip("/") / "lib"
    assert (moved / "pkg" / "sub" / "mod.pyc").read_bytes() == b"service"
    assert (moved / "single.pyc").read_bytes() == b"single"
    assert (moved / "link").readlink() == Path("single.pyc")


def test_delta_rejects_an_unknown_option(tmp_path: Path) -> None:
    assert _tool("delta", "m", str(tmp_path), str(tmp_path / "d"), "--mvoe").returncode == 2


def test_stamp_gives_every_path_one_time_and_leaves_link_targets_alone(tmp_path: Path) -> None:
    root = tmp_path / "opt"
    _plant(root / "venv" / "lib" / "site-packages")
    outside = tmp_path / "outside.txt"
    outside.write_text("not under the root\n")
    os.utime(outside, (1_000_000_000, 1_000_000_000))
    (root / "venv" / "lib64").symlink_to("lib")
    (root / "venv" / "out").symlink_to(outside)
    result = _tool("stamp", str(root), "1735689600")
    assert result.returncode == 0, result.stderr
    paths = [root, *root.rglob("*")]
    times = {p.lstat().st_mtime for p in paths}
    assert len(times) == 1 and times.pop() == 1735689600, "one fixed time for every path"
    assert outside.stat().st_mtime == 1_000_000_000, "a link's target outside is untouched"


def test_stamp_takes_a_root_and_a_time_in_whole_seconds(tmp_path: Path) -> None:
    assert _tool("stamp").returncode == 2
    assert _tool("stamp", str(tmp_path), "extra").returncode == 2
    assert _tool("stamp", str(tmp_path)).returncode == 2


def test_minus_keeps_only_what_the_service_adds_with_its_hashes(tmp_path: Path) -> None:
    common = tmp_path / "common.txt"
    common.write_text(
        "sqlalchemy==2.1.9 \\\n    --hash=sha256:aa\n    # via xorb\n"
        "typing-extensions==4.16.0 \\\n    --hash=sha256:bb\n"
    )
    full = tmp_path / "worker.txt"
    full.write_text(
        common.read_text() + "psutil==7.2.2 \\\n    --hash=sha256:cc \\\n    --hash=sha256:dd\n"
        "async-timeout==5.0.1 ; python_full_version < '3.11.3' \\\n    --hash=sha256:ee\n"
    )
    out = tmp_path / "only.txt"
    assert _tool("minus", str(common), str(full), str(out)).returncode == 0
    assert out.read_text() == (
        "psutil==7.2.2 \\\n    --hash=sha256:cc \\\n    --hash=sha256:dd\n"
        "async-timeout==5.0.1 ; python_full_version < '3.11.3' \\\n    --hash=sha256:ee\n"
    )
    assert _tool("minus", str(common), str(common), str(out)).returncode == 0
    assert out.read_text() == "", "nothing beyond the common requirements"


def _load_tool() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("venv_tool", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _section_names(path: Path) -> list[str]:
    return [name.decode() for name in section_names(path.read_bytes())]


def _unstripped_extension(tmp_path: Path) -> tuple[Path, str]:
    """A copy of an installed extension module that ships its symbols and debug info
    (SQLAlchemy's Cython modules do), and its module name."""
    import sqlalchemy.util._collections_cy as module

    source = Path(module.__file__ or "")
    assert ".symtab" in _section_names(source), "expected an unstripped extension module"
    copy = tmp_path / source.name
    copy.write_bytes(source.read_bytes())
    return copy, module.__name__


def test_strip_drops_symbols_and_debug_sections_and_the_module_still_loads(
    tmp_path: Path,
) -> None:
    tool: Any = _load_tool()
    path, name = _unstripped_extension(tmp_path)
    before = path.stat().st_size
    saved = tool.strip_elf(str(path))
    assert saved > before // 2
    assert path.stat().st_size == before - saved
    names = _section_names(path)
    assert not [n for n in names if n.startswith(".debug") or n in (".symtab", ".strtab")]
    assert {".text", ".dynsym", ".dynstr", ".data"} <= set(names)
    # The package first (it imports the original), then the stripped copy under its name.
    load = (
        "import ctypes, importlib.util, sqlalchemy.util\n"
        f"ctypes.CDLL({str(path)!r}).PyInit__collections_cy\n"
        f"spec = importlib.util.spec_from_file_location({name!r}, {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.unique_list([3, 1, 3, 2]) == [3, 1, 2]\n"
        "print(module.__file__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", load], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(path)


def test_strip_leaves_stripped_foreign_and_unusual_files_as_they_were(tmp_path: Path) -> None:
    import struct

    tool: Any = _load_tool()
    path, _ = _unstripped_extension(tmp_path)
    odd = tmp_path / "odd.so"
    data = bytearray(path.read_bytes())
    # A segment reaching past the first unneeded section: not the layout strip_elf handles.
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    struct.pack_into(
        "<Q", data, phoff + 32, len(data) - struct.unpack_from("<Q", data, phoff + 8)[0]
    )
    odd.write_bytes(bytes(data))
    # Corrupt: the section names' table points past the end of the file. Left alone.
    corrupt = tmp_path / "corrupt.so"
    bad = bytearray(path.read_bytes())
    shoff = struct.unpack_from("<Q", bad, 0x28)[0]
    shentsize, shstrndx = (
        struct.unpack_from("<H", bad, 0x3A)[0],
        struct.unpack_from("<H", bad, 0x3E)[0],
    )
    struct.pack_into("<Q", bad, shoff + shstrndx * shentsize + 24, len(bad) + 4096)
    corrupt.write_bytes(bytes(bad))
    assert tool.strip_elf(str(corrupt)) == 0 and corrupt.read_bytes() == bytes(bad)
    text = tmp_path / "notes.so.txt"
    text.write_text("not an ELF file\n")
    assert tool.strip_elf(str(odd)) == 0 and odd.read_bytes() == bytes(data)
    assert tool.strip_elf(str(text)) == 0 and text.read_text() == "not an ELF file\n"
    assert tool.strip_elf(str(path)) > 0
    once = path.read_bytes()
    assert tool.strip_elf(str(path)) == 0 and path.read_bytes() == once


def _sections(data: bytes) -> dict[str, bytes]:
    """Every named section's bytes (empty for NOBITS), by name."""
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    heads = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = section_names(data)
    return {
        name.decode(): b"" if head[1] == 8 else data[head[4] : head[4] + head[5]]
        for name, head in zip(names, heads, strict=True)
        if name
    }


def test_strip_an_arm64_module_keeps_every_loaded_byte(tmp_path: Path) -> None:
    tool: Any = _load_tool()
    fixture = ROOT / "tests" / "fixtures" / "elf" / "markupsafe-speedups-aarch64.so"
    original = fixture.read_bytes()
    assert original[18:20] == (183).to_bytes(2, "little")  # e_machine: EM_AARCH64
    path = tmp_path / fixture.name
    path.write_bytes(original)
    saved = tool.strip_elf(str(path))
    stripped = path.read_bytes()
    assert saved > 0 and len(stripped) == len(original) - saved
    before, after = _sections(original), _sections(stripped)
    dropped = {n for n in before if n.startswith(".debug") or n in (".symtab", ".strtab")}
    assert dropped and not dropped & set(after)
    assert {n: before[n] for n in before if n not in dropped} == after
    (phoff,), (phnum,) = (
        struct.unpack_from("<Q", original, 0x20),
        struct.unpack_from("<H", original, 0x38),
    )
    program_headers = slice(phoff, phoff + phnum * 56)
    assert stripped[program_headers] == original[program_headers]  # segments untouched


def test_strip_replaces_the_file_so_a_hard_linked_copy_keeps_its_bytes(tmp_path: Path) -> None:
    # uv links installed files from its cache: rewriting in place would strip the cache too
    tool: Any = _load_tool()
    path, _ = _unstripped_extension(tmp_path)
    path.chmod(0o751)
    original = path.read_bytes()
    cached = tmp_path / "cache-copy.so"
    os.link(path, cached)
    assert tool.strip_elf(str(path)) > 0
    assert cached.read_bytes() == original
    assert path.stat().st_ino != cached.stat().st_ino
    assert path.stat().st_mode & 0o777 == 0o751
    assert not list(tmp_path.glob("*.venv-tool-tmp"))
