"""The eight categories, in the guide's order; each is registered in :data:`CATEGORIES`."""

from __future__ import annotations

import io
import re
import secrets
import shutil
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from python_on_whales.exceptions import DockerException

from xorb_tools import build
from xorb_tools.core import engine, images
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project, Service
from xorb_tools.quality.structure.base import (
    APP_UID,
    APP_USER,
    HARDENING,
    LOW_CPUS,
    LOW_DISK_BYTES,
    LOW_MEMORY_BYTES,
    MAX_SCANNED_FILE,
    MIN_ENGINE_MAJOR,
    OCI_KEYS,
    READY_TIMEOUT,
    TARGET_ENVIRONMENT,
    Report,
    Result,
    _short,
    config_uid,
    engine_major,
    find_secrets,
    probe_results,
    secret_file_reason,
)
from xorb_tools.quality.structure.context import Context

# ----------------------------------------------------------------------------- categories


@dataclass(frozen=True)
class Category:
    """One category of the suite: ``category(ctx)`` runs it and never raises."""

    name: str
    body: Callable[[Context, Report], None]

    def __call__(self, ctx: Context) -> Result:
        report = Report(self.name, ctx.echo)
        started = time.monotonic()
        try:
            self.body(ctx, report)
        except XorbError as exc:
            report.fail(str(exc).replace("\n", "\n     "))
        except DockerException as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
            report.fail(f"docker exit {exc.return_code}: {' | '.join(detail)}")
        except Exception as exc:  # one category never stops the others
            report.fail(f"{type(exc).__name__}: {exc}")
        report.info(f"⏱️  {time.monotonic() - started:.1f}s")
        return report.result()


CATEGORIES: list[Category] = []


def category(name: str) -> Callable[[Callable[[Context, Report], None]], Category]:
    """Register a check as the next category of the suite."""

    def wrap(body: Callable[[Context, Report], None]) -> Category:
        registered = Category(name, body)
        CATEGORIES.append(registered)
        return registered

    return wrap


@category("Docker Environment")
def docker_environment(ctx: Context, r: Report) -> None:
    r.info("🐳 Testing Docker Environment...")
    version = engine.server_version()
    r.check(
        engine_major(version) >= MIN_ENGINE_MAJOR,
        f"Docker daemon connected (version: {version})",
        f"Docker daemon {version} is older than {MIN_ENGINE_MAJOR}: upgrade the engine",
    )
    info = ctx.client.info()
    cpus, memory = int(info.n_cpu or 0), int(info.mem_total or 0)
    (r.ok if cpus >= LOW_CPUS else r.warn)(f"{cpus} CPUs")
    (r.ok if memory >= LOW_MEMORY_BYTES else r.warn)(f"{memory / 1024**3:.1f} GiB memory")
    root = Path(str(info.docker_root_dir or "/var/lib/docker"))
    if root.exists():
        free = shutil.disk_usage(root).free
        (r.ok if free >= LOW_DISK_BYTES else r.warn)(f"{free / 1024**3:.1f} GiB free at {root}")
    else:
        r.warn(f"data root {root} is not on this host (remote engine): disk space not checked")
    for what, probe in (("buildx", engine.buildx_version), ("compose", engine.compose_version)):
        try:
            r.ok(f"docker {what} {probe()}")
        except XorbError as exc:
            r.fail(str(exc))
    r.ok(f"Found {info.containers} containers")
    r.ok(f"Found {info.images} images")


@category("Build Test Images")
def build_test_images(ctx: Context, r: Report) -> None:
    r.info("🔨 Building Test Images...")
    names = tuple(s.name for s in ctx.services)
    for target, environment in TARGET_ENVIRONMENT.items():
        plan = build.plan(
            ctx.project, build.Options(environment=environment, target=target, services=names)
        )
        if ctx.options.skip_build:
            r.info(f"Checking the {target} target (--skip-build)...")
        else:
            r.info(f"Building {target} target ({', '.join(names)}), {environment} environment...")
            started = time.monotonic()
            try:
                build.run(plan, echo=False)
            except XorbError as exc:
                # Another build writing the same layer into the containerd store at the
                # same moment ("ref ... locked"): transient, so one retry.
                if "locked for" not in str(exc):
                    raise
                r.warn("the image store was busy with a concurrent build: retrying once")
                build.run(plan, echo=False)
            r.info(f"  built in {time.monotonic() - started:.1f}s")
        for b in plan.builds:
            tag = b.tags[-1]
            if not engine.image_exists(tag):
                r.fail(f"{b.service.name} {target} image {tag} does not exist")
                continue
            image_id = str(ctx.client.image.inspect(tag).id)
            r.ok(f"Built {b.service.name} image: {_short(image_id)} ({target}: {tag})")


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
# Programs a production image does not ship: package managers (nothing to install at run
# time), perl, a second shell, login and mount tools. /bin/sh (dash) stays: the entrypoint.
# Debian's package database stays, without dpkg: scanners read it to list the OS packages.


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


@category("Container Startup")
def container_startup(ctx: Context, r: Report) -> None:
    r.info("🚀 Testing Container Startup...")
    infra = ctx.infra()
    r.ok(f"dependencies up in {infra.startup_seconds:.1f}s (PostgreSQL, Redis, Temporal)")
    started_at = time.monotonic()
    running = ctx.running()
    elapsed = time.monotonic() - started_at
    for svc in ctx.services:
        r.check(
            svc.name in running,
            f"{svc.name}: healthy (read-only, no capabilities, no-new-privileges,"
            f" secrets at /run/secrets) in {elapsed:.1f}s",
            f"{svc.name}: did not become healthy: {ctx.start_errors.get(svc.name, '?')}",
        )
    for name, error in ctx.start_errors.items():
        if name not in {s.name for s in ctx.services}:
            r.fail(f"dependency {name} (production) did not start: {error}")


_VALIDATE = r"""
for env in "$@"; do
    XORB_ENV="$env" python3 -m common.config_manager validate "$env" >&2; echo "$env $?"
done
"""


@category("Configuration Integration")
def configuration_integration(ctx: Context, r: Report) -> None:
    r.info("⚙️  Testing Configuration Integration...")
    folder = ctx.secrets_dir("config-secrets", postgres_password=secrets.token_urlsafe(18))
    environments = list(ctx.project.environments)
    for svc in ctx.services:
        res = ctx.run(
            ctx.ref(svc),
            ["sh", "-c", _VALIDATE, "validate", *environments],
            volumes=[(str(folder), "/run/secrets", "ro")],
            **HARDENING,
        )
        codes = probe_results(res.out)
        for env in environments:
            r.check(
                codes.get(env) == 0,
                f"{svc.name}: XORB_ENV={env} configuration loads",
                f"{svc.name}: XORB_ENV={env} configuration does not load: {res.text[-300:]}",
            )
        _bad_config(
            ctx,
            r,
            svc,
            "production without postgres_password",
            {"XORB_ENV": "production"},
            [(str(ctx.jwt_only_dir()), "/run/secrets", "ro")],
            "postgres_password",
        )
        _bad_config(ctx, r, svc, "XORB_ENV=bogus", {"XORB_ENV": "bogus"}, [], "bogus")


def _bad_config(
    ctx: Context,
    r: Report,
    svc: Service,
    what: str,
    envs: dict[str, str],
    volumes: list[tuple[str, str, str]],
    must_name: str,
) -> None:
    # `timeout` bounds a service that starts although it should not.
    command = ["timeout", "30", "python3", "-m", svc.package]
    res = ctx.run(ctx.ref(svc), command, envs=envs, volumes=volumes, **HARDENING)
    lines = [ln for ln in res.text.splitlines() if ln.strip()]
    clear = (
        res.code not in (0, 124)
        and len(lines) == 1
        and must_name in lines[0]
        and "Traceback" not in res.text
    )
    r.check(
        clear,
        f"{svc.name}: {what} fails clearly (exit {res.code}: {lines[0] if lines else ''})",
        f"{svc.name}: {what} does not fail clearly (exit {res.code}): {res.text[-400:]}",
    )


@category("Size Analysis")
def size_analysis(ctx: Context, r: Report) -> None:
    r.info("📏 Analysing Image Sizes (uncompressed: sum of the unpacked layers)...")
    total = 0.0
    for svc in ctx.services:
        size = images.uncompressed_size(ctx.ref(svc)) / images.MB
        total += size
        budget = ctx.budget(svc)
        r.check(
            size <= budget,
            f"{svc.name}: {size:.1f} MB uncompressed (budget {budget} MB)",
            f"{svc.name}: {size:.1f} MB uncompressed is over its budget of {budget} MB",
        )
    r.info(f"Total: {total:.1f} MB uncompressed (shared layers counted per image)")


_FETCH = r"""
import sys, time, urllib.request, urllib.error
deadline = time.monotonic() + float(sys.argv[1])
for url in sys.argv[2:]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                code = resp.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except OSError:
            code = 0
        if code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(url, code, flush=True)
"""


def health_urls(project: Project, selected: Iterable[Service]) -> list[str]:
    """The URLs Health Endpoints fetches on the test network (the API's also /ready, /metrics)."""
    urls: list[str] = []
    api = project.services[0].name  # the table's first service is the public API
    for svc in selected:
        base = f"http://{svc.name}:{svc.port}"
        urls.append(base + svc.health_path)
        if svc.name == api:
            urls += [base + "/ready", base + "/metrics"]
    return urls


@category("Health Endpoints")
def health_endpoints(ctx: Context, r: Report) -> None:
    r.info("🩺 Testing Health Endpoints...")
    running = ctx.running()
    selected = [s for s in ctx.services if s.name in running]
    for svc in ctx.services:
        if svc.name not in running:
            r.fail(f"{svc.name}: not running: {ctx.start_errors.get(svc.name, '?')}")
    if not selected:
        return
    urls = health_urls(ctx.project, selected)
    res = ctx.run(
        ctx.ref(selected[0]),
        ["python3", "-c", _FETCH, str(READY_TIMEOUT), *urls],
        networks=[ctx.infra().network],
        user=APP_USER,
        **HARDENING,
    )
    codes = probe_results(res.out)
    for url in urls:
        code = codes.get(url)
        r.check(code == 200, f"GET {url} -> 200", f"GET {url} -> {code or res.text[-200:]}")


_VOLUME_PROBE = r"""
cat /mnt/config/settings.toml >/dev/null 2>&1; echo "ro_read $?"
touch /mnt/config/probe 2>/dev/null; echo "ro_write $?"
echo x > /tmp/probe 2>/dev/null; echo "tmp_write $?"
touch /probe 2>/dev/null; echo "root_write $?"
echo "$1" > /mnt/out/written 2>/dev/null; echo "out_write $?"
"""
_VOLUME_WRITE = r"""
echo x > /tmp/from-first 2>/dev/null; echo "volume_write $?"
"""
_VOLUME_READBACK = r"""
test "$(stat -c %u /tmp/from-first 2>/dev/null)" = "1000"; echo "volume_persisted $?"
"""


@category("Volume Mounts")
def volume_mounts(ctx: Context, r: Report) -> None:
    r.info("💾 Testing Volume Mounts...")
    config_dir = ctx.tmpdir("config")
    (config_dir / "settings.toml").write_text("[probe]\nok = true\n")
    (config_dir / "settings.toml").chmod(0o644)
    for svc in ctx.services:
        ref = ctx.ref(svc)
        out_dir = ctx.tmpdir(f"out-{svc.name}", 0o777)
        token = uuid.uuid4().hex
        res = ctx.run(
            ref,
            ["sh", "-c", _VOLUME_PROBE, "probe", token],
            user=APP_USER,
            volumes=[
                (str(config_dir), "/mnt/config", "ro"),
                (str(out_dir), "/mnt/out", "rw"),
            ],
            **HARDENING,
        )
        p = probe_results(res.out)
        r.check(
            p.get("ro_read") == 0 and p.get("ro_write", 0) != 0,
            f"{svc.name}: read-only bind mount readable, not writable by UID {APP_UID}",
            f"{svc.name}: read-only bind mount: read rc {p.get('ro_read')},"
            f" write rc {p.get('ro_write')} ({res.text[-200:]})",
        )
        r.check(
            p.get("tmp_write") == 0 and p.get("root_write", 0) != 0,
            f"{svc.name}: tmpfs /tmp writable on a read-only root filesystem",
            f"{svc.name}: /tmp write rc {p.get('tmp_write')}, root write rc {p.get('root_write')}",
        )
        written = out_dir / "written"
        owner = written.stat().st_uid if written.exists() else None
        r.check(
            p.get("out_write") == 0 and owner == int(APP_UID) and token in written.read_text(),
            f"{svc.name}: file written to a bind mount appears on the host with UID {owner}",
            f"{svc.name}: bind-mount write rc {p.get('out_write')}, host owner {owner}",
        )
        volume = ctx.volume()
        mount = [(volume, "/tmp", "rw")]  # noqa: S108 - the container's /tmp
        hardened = {k: v for k, v in HARDENING.items() if k != "tmpfs"}
        first = probe_results(
            ctx.run(ref, ["sh", "-c", _VOLUME_WRITE], user=APP_USER, volumes=mount, **hardened).out
        )
        second = probe_results(
            ctx.run(
                ref, ["sh", "-c", _VOLUME_READBACK], user=APP_USER, volumes=mount, **hardened
            ).out
        )
        r.check(
            first.get("volume_write") == 0 and second.get("volume_persisted") == 0,
            f"{svc.name}: named volume at /tmp writable by UID {APP_UID} and persists",
            f"{svc.name}: named volume at /tmp: write rc {first.get('volume_write')},"
            f" persisted rc {second.get('volume_persisted')}",
        )
