#!/usr/bin/env python3
"""Build-stage helper for layered virtual environments (runs in the builder only).

  venv-tool manifest VENV OUT        record every path under VENV with its size and sha256
  venv-tool delta MANIFEST VENV DEST [--move]
                                     copy what VENV gained since MANIFEST to DEST + path;
                                     --move: move what is new instead (changed files are
                                     still copied), so one layer does not hold it twice
  venv-tool slim ROOT [--strip-prefix P] [--sourceless]
                                     strip shared objects (their static symbol tables
                                     and debug sections: see strip_elf), drop type
                                     stubs, and compile
                                     bytecode (unchecked-hash: the image is immutable);
                                     drop packages' own tests/ directories. --sourceless:
                                     compile next to the source (module.pyc, where
                                     module.py was) and delete the .py files and Cython
                                     sources: the bytecode alone is what runs
  venv-tool minus BASE FULL OUT      write the requirements of FULL (hashed, as `uv export`
                                     writes them) that BASE does not list, to OUT
  venv-tool stamp ROOT EPOCH         give ROOT and everything under it the time EPOCH
                                     (seconds): the layer it ends up in is then the
                                     same whenever and wherever it is built

``delta`` is what lets every service image share one identical dependency layer: the
shared environment is one COPY, the service's own packages a second, smaller one.
``slim`` runs on exactly the files a layer adds, so a later layer never rewrites an
earlier one's files (which would duplicate them in the image).
"""

from __future__ import annotations

import compileall
import contextlib
import hashlib
import os
import py_compile
import shutil
import stat
import struct
import sys

SKIP_SUFFIXES = (".pyi",)
# Cython sources and declarations next to their compiled extensions: never read at run time.
SOURCE_ONLY_SUFFIXES = (".pyx", ".pxd")


def _state(path: str) -> str:
    """What identifies a path's content: size and sha256 (files), target (symlinks).

    Not the mtime: BuildKit keeps whole seconds only once a layer has been through a cache
    export and import, which made every file of an imported layer look changed.
    """
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return f"link {os.readlink(path)}"
    if not stat.S_ISREG(st.st_mode):
        return f"mode {stat.S_IFMT(st.st_mode):o}"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"{st.st_size} {digest.hexdigest()}"


def manifest(venv: str, out: str) -> int:
    with open(out, "w", encoding="utf-8") as fh:
        for root, dirs, files in os.walk(venv):
            for name in sorted(dirs + files):
                path = os.path.join(root, name)
                fh.write(f"{path}\t{_state(path)}\n")
    return 0


def delta(manifest_path: str, venv: str, dest: str, *, move: bool = False) -> int:
    seen: dict[str, str] = {}
    with open(manifest_path, encoding="utf-8") as fh:
        for line in fh:
            path, state = line.rstrip("\n").split("\t", 1)
            seen[path] = state
    copied = 0
    os.makedirs(dest, exist_ok=True)
    for root, dirs, files in os.walk(venv):
        moved_dirs = []
        for name in dirs + files:
            path = os.path.join(root, name)
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            if is_dir and path in seen:
                continue  # existing directory: only its new entries matter
            if not is_dir and seen.get(path) == _state(path):
                continue
            target = dest + path
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if move and path not in seen:
                # New since the manifest: moved, so the layer that made it holds it once.
                shutil.move(path, target)
                if is_dir:
                    moved_dirs.append(name)
            elif os.path.islink(path):
                os.symlink(os.readlink(path), target)
            elif is_dir:
                os.makedirs(target, exist_ok=True)
                shutil.copystat(path, target)
            else:
                shutil.copy2(path, target)
            copied += 1
        dirs[:] = [d for d in dirs if d not in moved_dirs]
    verb = "moved or copied" if move else "copied"
    print(f"venv-tool: {copied} new or changed paths in {venv} {verb}", file=sys.stderr)
    return 0


# ELF64, little-endian (x86-64, arm64): the header fields strip_elf reads and writes.
_EHDR_SHOFF = 0x28
_SECTION = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info align entsize
_SEGMENT = struct.Struct("<IIQQQQQQ")  # type flags offset vaddr paddr filesz memsz align
_SHF_ALLOC = 0x2
_SHT_NOBITS = 8


def _unneeded(name: bytes) -> bool:
    """What ``strip --strip-unneeded`` removes from a shared object: the static symbol
    table and its strings (the loader uses .dynsym/.dynstr) and the debug sections."""
    return name.startswith(b".debug") or name in (b".symtab", b".strtab")


def strip_elf(path: str) -> int:
    """See :func:`_strip_elf`; a file it cannot parse (truncated, corrupt) is left alone."""
    try:
        return _strip_elf(path)
    except (ValueError, struct.error):
        return 0


def _strip_elf(path: str) -> int:
    """Drop the unneeded sections (:func:`_unneeded`) of the ELF64 little-endian file at
    ``path``; the bytes saved (0 when there is nothing to drop or the file is not such an
    ELF file, or is laid out in a way this does not handle: then it is left as it was).

    The loader reads program headers and the sections they map, never these: linkers put
    them after everything mapped, so the file is cut before the first of them, the kept
    sections behind the cut are appended again, and the section header table is written
    after those. Dropped sections keep their index as empty, inactive (SHT_NULL) entries,
    so no section index in a symbol table or a link needs rewriting. Own code rather than
    binutils' strip: binutils is a Debian package, and apt in the build cost every cold
    build 3 s on its critical path plus a reachable Debian mirror.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 64 or data[:6] != b"\x7fELF\x02\x01":
        return 0
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    if not shoff or shnum == 0 or shentsize != _SECTION.size or not 0 < shstrndx < shnum:
        return 0
    if shoff + shnum * shentsize > len(data) or phoff + phnum * phentsize > len(data):
        return 0
    sections = [list(_SECTION.unpack_from(data, shoff + i * shentsize)) for i in range(shnum)]
    names_at = sections[shstrndx][4]

    def name(entry: list[int]) -> bytes:
        start = names_at + entry[0]
        return data[start : data.index(b"\0", start)]

    drop = {
        i
        for i, sec in enumerate(sections)
        if i and i != shstrndx and not sec[2] & _SHF_ALLOC and _unneeded(name(sec))
    }
    if not drop or any(sec[6] in drop for i, sec in enumerate(sections) if i not in drop):
        return 0
    cut = min(sections[i][4] for i in drop)
    for i in range(phnum):
        seg = _SEGMENT.unpack_from(data, phoff + i * phentsize)
        if seg[5] and seg[2] + seg[5] > cut:
            return 0
    if phoff + phnum * phentsize > cut or any(
        sec[2] & _SHF_ALLOC and sec[1] != _SHT_NOBITS and sec[4] + sec[5] > cut for sec in sections
    ):
        return 0
    out = bytearray(data[:cut])
    for i, sec in enumerate(sections):
        if i in drop:
            sections[i] = [0] * 10
        elif i and sec[4] + (0 if sec[1] == _SHT_NOBITS else sec[5]) > cut:
            align = max(sec[8], 1)
            out += bytes(-len(out) % align)
            body = b"" if sec[1] == _SHT_NOBITS else data[sec[4] : sec[4] + sec[5]]
            sec[4] = len(out)
            out += body
    out += bytes(-len(out) % 8)
    struct.pack_into("<Q", out, _EHDR_SHOFF, len(out))
    for sec in sections:
        out += _SECTION.pack(*sec)
    if len(out) >= len(data):
        return 0
    _replace(path, bytes(out))
    return len(data) - len(out)


def _replace(path: str, data: bytes) -> None:
    """Put ``data`` at ``path`` through a new file renamed over it: the old inode is left as
    it was, so a hard-linked copy of it (uv links installed files from its cache) keeps its
    bytes, and a reader never sees half a file. The new file keeps the old one's mode."""
    tmp = f"{path}.venv-tool-tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def slim(root: str, strip_prefix: str | None, *, sourceless: bool = False) -> int:
    shared = []
    for dirpath, dirs, files in os.walk(root):
        if os.path.basename(os.path.dirname(dirpath)) == "site-packages" and "tests" in dirs:
            # A package's own test suite (e.g. croniter/tests) is never imported at run time.
            shutil.rmtree(os.path.join(dirpath, "tests"))
            dirs.remove("tests")
        for name in files:
            path = os.path.join(dirpath, name)
            if name.endswith(SKIP_SUFFIXES) or (sourceless and name.endswith(SOURCE_ONLY_SUFFIXES)):
                os.unlink(path)
            elif (".so" in name) and not os.path.islink(path):
                shared.append(path)
    saved = sum(strip_elf(path) for path in shared)
    if saved:
        print(
            f"venv-tool: {saved / 1e6:.1f} MB of symbols and debug sections stripped "
            f"from {len(shared)} shared objects under {root}",
            file=sys.stderr,
        )
    ok = compileall.compile_dir(
        root,
        quiet=1,
        workers=0,
        legacy=sourceless,
        stripdir=strip_prefix,
        prependdir="/" if strip_prefix else None,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if ok and sourceless:
        drop_sources(root)
    return 0 if ok else 1


def stamp(root: str, epoch: int) -> int:
    """Give ``root`` and every path under it the time ``epoch``, so that a rebuild without
    the builder's cache makes the same layer (the bytecode is unchecked-hash: no .pyc
    depends on its source's time)."""
    count = 0
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            os.utime(os.path.join(dirpath, name), (epoch, epoch), follow_symlinks=False)
            count += 1
    os.utime(root, (epoch, epoch), follow_symlinks=False)
    print(f"venv-tool: {count + 1} paths under {root} stamped {epoch}", file=sys.stderr)
    return 0


def _requirement_blocks(path: str) -> list[list[str]]:
    """``uv export`` output as blocks: a requirement line and its indented continuation
    (hashes, ``# via`` comments)."""
    blocks: list[list[str]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh.read().splitlines():
            if line.startswith((" ", "\t")) and blocks:
                blocks[-1].append(line)
            elif line.strip() and not line.startswith("#"):
                blocks.append([line])
    return blocks


def minus(base: str, full: str, out: str) -> int:
    """What ``full`` adds to ``base``: installing it with ``--no-deps`` on top of ``base``
    gives the whole of ``full`` without resolving (and fetching the index pages of) the
    packages ``base`` already installed."""
    have = {block[0] for block in _requirement_blocks(base)}
    extra = [block for block in _requirement_blocks(full) if block[0] not in have]
    with open(out, "w", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for block in extra for line in block)
    print(f"venv-tool: {len(extra)} requirements of {full} beyond {base}", file=sys.stderr)
    return 0


def drop_sources(root: str) -> None:
    """Delete every ``module.py`` that has its ``module.pyc`` beside it (Python imports the
    bytecode alone: a sourceless module), and any ``__pycache__`` left by an installer."""
    removed = 0
    for dirpath, dirs, files in os.walk(root):
        if "__pycache__" in dirs:
            shutil.rmtree(os.path.join(dirpath, "__pycache__"))
            dirs.remove("__pycache__")
        names = set(files)
        for name in files:
            if name.endswith(".py") and name + "c" in names:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    os.unlink(path)
                    removed += 1
    print(f"venv-tool: {removed} sources replaced by their bytecode in {root}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "manifest":
        return manifest(argv[1], argv[2])
    if len(argv) in (4, 5) and argv[0] == "delta" and argv[4:] in ([], ["--move"]):
        return delta(argv[1], argv[2], argv[3], move=argv[4:] == ["--move"])
    if len(argv) == 4 and argv[0] == "minus":
        return minus(argv[1], argv[2], argv[3])
    if len(argv) == 3 and argv[0] == "stamp" and argv[2].isdigit():
        return stamp(argv[1], int(argv[2]))
    if len(argv) >= 2 and argv[0] == "slim":
        opts = argv[2:]
        sourceless = "--sourceless" in opts
        opts = [o for o in opts if o != "--sourceless"]
        prefix = opts[1] if len(opts) >= 2 and opts[0] == "--strip-prefix" else None
        if opts and prefix is None:
            print(__doc__, file=sys.stderr)
            return 2
        return slim(argv[1], prefix, sourceless=sourceless)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
