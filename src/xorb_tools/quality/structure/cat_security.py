"""Category 3 of the guide, container security: non-root, read-only, no shell tools or package
managers, hardening, and no secret in any layer, the history or the image metadata."""

from __future__ import annotations

import io
import re
import tarfile
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

from xorb_tools.core import engine, images
from xorb_tools.quality.structure.base import (
    APP_UID,
    APP_USER,
    MAX_SCANNED_FILE,
    OCI_KEYS,
    Report,
    config_uid,
    find_secrets,
    probe_results,
    secret_file_reason,
)
from xorb_tools.quality.structure.context import Context
from xorb_tools.quality.structure.registry import category

_FILES_PROBE = r"""
owned=$(find /app/src ! -user 0 -print | head -n 5)
echo "not_root_owned $(printf '%s' "$owned" | grep -c .)"
touch /app/src/.xorb-write-probe 2>/dev/null; echo "create_in_app $?"
f=$(find /app/src -name '*.py' -type f | head -n 1)
( : >> "$f" ) 2>/dev/null; echo "append_to_app $?"
"""
_ROOT_PROBE = r"""
find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \) -prune -o \
  \( -type f -perm -0002 -print \) -o \( -type d -perm -0002 ! -perm -1000 -print \) 2>/dev/null \
  | sed 's/^/world-writable /'
find / -xdev \( -path /proc -o -path /sys \) -prune -o -type f -perm /6000 -print 2>/dev/null \
  | sed 's/^/setid /'
for tool in apt apt-get dpkg dpkg-query perl bash su login passwd useradd mount; do
  for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    if [ -e "$dir/$tool" ]; then echo "tool $dir/$tool"; fi
  done
done
if [ -s /var/lib/dpkg/status ]; then echo "dpkg-status present"; fi
"""


@category("Container Security")
def container_security(ctx: Context, r: Report) -> None:
    r.info("🔒 Testing Container Security...")
    for svc in ctx.services:
        ref = ctx.ref(svc)
        config = ctx.client.image.inspect(ref).config
        uid = config_uid(config.user)
        r.check(
            uid == APP_UID,
            f"{svc.name}: image user {config.user} (UID {APP_UID})",
            f"{svc.name}: image user is {config.user or 'root (unset)'}, not UID {APP_UID}",
        )
        got = ctx.run(ref, ["id", "-u"], read_only=True).out.strip()
        r.check(
            got == APP_UID,
            f"{svc.name}: runs as UID {got}",
            f"{svc.name}: a container runs as UID {got or '?'}, not {APP_UID}",
        )
        labels = config.labels or {}
        missing = [k for k in OCI_KEYS if not labels.get(f"org.opencontainers.image.{k}")]
        r.check(
            not missing,
            f"{svc.name}: OCI labels {', '.join(OCI_KEYS)}",
            f"{svc.name}: missing OCI labels {', '.join(missing)}",
        )
        probes = probe_results(ctx.run(ref, ["sh", "-c", _FILES_PROBE], user=APP_USER).out)
        r.check(
            probes.get("not_root_owned") == 0,
            f"{svc.name}: /app/src owned by root",
            f"{svc.name}: files under /app/src not owned by root ({probes})",
        )
        writable = [k for k in ("create_in_app", "append_to_app") if probes.get(k, 1) == 0]
        r.check(
            len(probes) == 3 and not writable,
            f"{svc.name}: /app/src not writable by UID {APP_UID}",
            f"{svc.name}: UID {APP_UID} can write to /app/src ({', '.join(writable) or probes})",
        )
        found = ctx.run(ref, ["sh", "-c", _ROOT_PROBE], user="0:0").out.splitlines()
        world = [ln.split(" ", 1)[1] for ln in found if ln.startswith("world-writable ")]
        setid = [ln.split(" ", 1)[1] for ln in found if ln.startswith("setid ")]
        r.check(
            not world,
            f"{svc.name}: no world-writable files outside /tmp",
            f"{svc.name}: world-writable: {', '.join(world[:5])}",
        )
        r.check(
            not setid,
            f"{svc.name}: no setuid/setgid binaries",
            f"{svc.name}: setuid/setgid binaries: {', '.join(setid[:5])}",
        )
        tools = sorted({ln.split(" ", 1)[1] for ln in found if ln.startswith("tool ")})
        r.check(
            not tools,
            f"{svc.name}: no package manager, perl, bash, login or mount tools",
            f"{svc.name}: ships {', '.join(tools)}",
        )
        r.check(
            "dpkg-status present" in found,
            f"{svc.name}: Debian package database kept for scanners",
            f"{svc.name}: /var/lib/dpkg/status is missing or empty (scanners cannot list "
            "the OS packages)",
        )
        in_meta = _metadata_secrets(ref)
        r.check(
            not in_meta,
            f"{svc.name}: no secrets in history or config",
            f"{svc.name}: secret-looking values in {'; '.join(in_meta)}",
        )
        started = time.monotonic()
        in_layers, scanned = _layer_secrets(ctx, ref)
        r.check(
            not in_layers,
            f"{svc.name}: no secret files or private keys in {scanned} layer files"
            f" ({time.monotonic() - started:.1f}s)",
            f"{svc.name}: secrets in layers: {'; '.join(in_layers[:5])}",
        )


def _metadata_secrets(ref: str) -> list[str]:
    """Where ``docker history --no-trunc`` and the config carry secret-looking values."""
    hits: list[str] = []
    for i, entry in enumerate(images.history_raw(ref)):
        text = f"{entry.get('CreatedBy', '')}\n{entry.get('Comment', '')}"
        for kind in find_secrets(text):
            hits.append(f"history entry {i}: {kind}")
    config = images.inspect_raw(ref).get("Config") or {}
    for key in ("Env", "Cmd", "Entrypoint", "Labels", "Healthcheck"):
        value = config.get(key)
        if not value:
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value)
        text = "\n".join(f"{k}={v}" if isinstance(value, dict) else str(v) for k, v in items)
        for kind in find_secrets(text):
            hits.append(f"config {key}: {kind}")
    return hits


class _ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (``docker save``'s output)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


_KEY_BYTES = re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----")


def _scan_layer(stream: IO[bytes], findings: list[str]) -> int:
    """Scan one layer tar (any compression) for secret files; returns the files scanned."""
    count = 0
    with tarfile.open(fileobj=stream, mode="r|*") as layer:
        for member in layer:
            if not member.isfile():
                continue
            count += 1
            reason = secret_file_reason(member.name)
            if reason:
                findings.append(f"/{member.name.lstrip('./')}: {reason}")
            if member.size > MAX_SCANNED_FILE:
                continue
            data = layer.extractfile(member)
            content = data.read() if data else b""
            if b"\0" in content[:8192]:
                continue  # a binary: its PEM strings are format markers and test vectors
            for match in _KEY_BYTES.finditer(content):
                body = content[match.end() : match.end() + 200].decode("ascii", "replace")
                if find_secrets(match.group().decode() + body):
                    findings.append(f"/{member.name.lstrip('./')}: a private key")
                    break
    return count


_scanned_layers: dict[str, tuple[list[str], int]] = {}


def _layer_secrets(ctx: Context, ref: str) -> tuple[list[str], int]:
    """Stream ``docker save`` and scan every layer (each distinct layer once per process)."""
    findings: list[str] = []
    total = 0
    with engine.docker_errors(f"docker save {ref}"):
        chunks = ctx.client.image.save(ref)
        assert chunks is not None
        stream = io.BufferedReader(_ChunkReader(chunks), 1 << 20)
        with tarfile.open(fileobj=stream, mode="r|") as outer:
            for member in outer:
                if not member.isfile() or member.size < 512:
                    continue
                if member.name in _scanned_layers:
                    found, count = _scanned_layers[member.name]
                else:
                    blob = outer.extractfile(member)
                    if blob is None:
                        continue
                    found, count = [], 0
                    try:
                        count = _scan_layer(blob, found)
                    except tarfile.ReadError:
                        continue  # a manifest or config blob, not a layer
                    _scanned_layers[member.name] = (found, count)
                findings += found
                total += count
    return findings, total
