"""Reading an ELF64 file's section names, independently of docker/venv-tool.py (whose
stripping the tests check). Stdlib only: the engine test runs this function's source
inside the images."""

from __future__ import annotations


def section_names(data: bytes) -> list[bytes]:
    """The names in the section header table of the ELF64 little-endian file ``data``."""
    import struct

    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    heads = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_at = heads[shstrndx][4]
    return [data[names_at + h[0] : data.index(b"\0", names_at + h[0])] for h in heads]
