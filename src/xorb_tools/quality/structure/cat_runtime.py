"""Categories 4 to 8 of the guide: start-up, configuration integration, size analysis, health
endpoints and volume mounts, against running containers."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable

from xorb_tools.core import images
from xorb_tools.core.services import Project, Service
from xorb_tools.quality.structure.base import (
    APP_UID,
    APP_USER,
    HARDENING,
    READY_TIMEOUT,
    Report,
    probe_results,
)
from xorb_tools.quality.structure.context import Context
from xorb_tools.quality.structure.registry import category


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
