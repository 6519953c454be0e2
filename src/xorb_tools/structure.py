"""The guide's container test suite: ``python test_containers.py`` / ``nox -s structure``.

Eight categories, each a real check against built images and running containers (no mocks):
Docker Environment, Build Test Images, Container Security, Container Startup, Configuration
Integration, Size Analysis, Health Endpoints, Volume Mounts. Each is an independent function
``(Context) -> Result``: an exception inside one becomes a FAIL line of that category and the
others still run, and pytest runs each on its own (``tests/structure``).

:class:`Context` owns what several categories share and starts it lazily: the PostgreSQL,
Redis and Temporal test containers, a secrets directory, and one production container per
service on the test network (Container Startup starts them, Health Endpoints reuses them).
:meth:`Context.close` removes everything, also after a failure.

``--image-tag`` points the checks at another tag of each selected service (e.g. a
deliberately broken image); services that are not selected still run, at their
``production`` tag, as the dependencies of the selected ones.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import secrets
import shutil
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from python_on_whales.exceptions import DockerException

from xorb_tools import build, engine, images, services, testinfra
from xorb_tools.errors import XorbError
from xorb_tools.services import Project, Service

HEADER = "🔧 XORB Container Test Suite"
RULE = "=" * 60
APP_USER = "1000:1000"
APP_UID = "1000"
MIN_ENGINE_MAJOR = 26
OCI_KEYS = ("title", "version", "revision", "created", "source")
TARGET_ENVIRONMENT = {"production": "production", "testing": "test", "development": "development"}
LOW_CPUS = 2
LOW_MEMORY_BYTES = 4 * 1024**3
LOW_DISK_BYTES = 10 * 1024**3
MAX_SCANNED_FILE = 5 * 1024 * 1024
START_TIMEOUT = 120.0
READY_TIMEOUT = 30.0
RUN_PREFIX = "xorb-structure"
HARDENING: dict[str, Any] = {
    "read_only": True,
    "tmpfs": ["/tmp"],  # noqa: S108 - the container's own /tmp
    "cap_drop": ["ALL"],
    "security_options": ["no-new-privileges:true"],
}

# ----------------------------------------------------------------------------- results


@dataclass
class Result:
    """One category's outcome: its name, whether it passed and its detail lines."""

    name: str
    passed: bool
    lines: list[str] = field(default_factory=list)


class Report:
    """Collects a category's detail lines (and echoes them as they come, on the CLI)."""

    def __init__(self, name: str, echo: Callable[[str], None] | None) -> None:
        self.name = name
        self.lines: list[str] = []
        self.failed = False
        self._echo = echo

    def _add(self, line: str) -> None:
        self.lines.append(line)
        if self._echo:
            self._echo(line)

    def info(self, message: str) -> None:
        self._add(f"  {message}")

    def ok(self, message: str) -> None:
        self._add(f"  ✅ {message}")

    def warn(self, message: str) -> None:
        self._add(f"  ⚠️  {message}")

    def fail(self, message: str) -> None:
        self.failed = True
        self._add(f"  ❌ {message}")

    def check(self, passed: bool, good: str, bad: str) -> bool:
        """Record ``good`` when ``passed`` else ``bad`` (as a failure); returns ``passed``."""
        (self.ok if passed else self.fail)(good if passed else bad)
        return passed

    def result(self) -> Result:
        return Result(self.name, not self.failed, list(self.lines))


# ----------------------------------------------------------------------------- pure helpers

_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private key",
        re.compile(
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
            r"\s*[A-Za-z0-9+/=]{40}"
        ),
    ),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "AWS secret access key",
        re.compile(r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{40}"),
    ),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[\w-]{10,}")),
    (
        "credential assignment",
        re.compile(
            r"(?i)\b[\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key)"
            r"\s*[=:]\s*['\"]?(?P<value>[^\s'\"$`{}<>;,]{4,})"
        ),
    ),
)
# Values of a "credential assignment" that are references, not secrets.
_HARMLESS_VALUES = re.compile(
    r"(?i)^(?:/run/secrets/.*|/|true|false|none|null|changeme|placeholder|example|xxx+|\*+)$"
)
SECRET_FILE_NAMES = frozenset(
    {
        "postgres_password",
        "jwt_secret",
        "redis_password",
        "vault_token",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        ".netrc",
        ".pypirc",
        ".git-credentials",
        ".dockercfg",
    }
)


def find_secrets(text: str) -> list[str]:
    """The kinds of secret-looking values in ``text`` (names only, never the values)."""
    found: list[str] = []
    for kind, pattern in _SECRET_PATTERNS:
        for match in pattern.finditer(text):
            value = match.groupdict().get("value")
            if value is not None and _HARMLESS_VALUES.match(value):
                continue
            if kind not in found:
                found.append(kind)
            break
    return found


def secret_file_reason(path: str) -> str | None:
    """Why a file at ``path`` (inside an image layer) is a secret file, or ``None``."""
    clean = path.lstrip("./")
    parts = clean.split("/")
    name = parts[-1]
    if name.startswith(".wh."):  # a whiteout: the deletion marker, not the file
        return None
    if clean.startswith("run/secrets/") and len(parts) > 2:
        return "a file under /run/secrets"
    if name in SECRET_FILE_NAMES:
        return f"a known secret file name ({name})"
    if name == "credentials" and len(parts) > 1 and parts[-2] == ".aws":
        return "AWS credentials"
    return None


def parse_budgets(values: Iterable[str]) -> dict[str, int]:
    """``["api=10", ...]`` -> ``{"api": 10}``; fail in one sentence on a malformed one."""
    budgets: dict[str, int] = {}
    for raw in values:
        name, sep, number = raw.partition("=")
        if not sep or not name or not number.isdigit() or int(number) <= 0:
            raise XorbError(f"Bad --budget {raw!r}: write SERVICE=MB, e.g. api=230.")
        budgets[name] = int(number)
    return budgets


def engine_major(version: str) -> int:
    """``"26.1.5+dfsg1"`` -> 26 (0 when it does not start with a number)."""
    match = re.match(r"\s*(\d+)", version)
    return int(match.group(1)) if match else 0


def config_uid(user: str | None) -> str:
    """The UID part of an image's ``User`` (``""`` means root)."""
    return (user or "").split(":", 1)[0] or "0"


def summary_lines(results: Sequence[Result]) -> list[str]:
    """The guide's results block and summary."""
    passed = sum(r.passed for r in results)
    lines = ["📊 Test Results:"]
    lines += [f"  {'✅ PASS' if r.passed else '❌ FAIL'} - {r.name}" for r in results]
    lines += ["", f"🎯 Summary: {passed}/{len(results)} tests passed"]
    if results and passed == len(results):
        lines.append("🎉 All container tests passed!")
    else:
        failed = ", ".join(r.name for r in results if not r.passed)
        lines.append(f"💥 Failed: {failed}")
    return lines


def probe_results(output: str) -> dict[str, int]:
    """``"name rc"`` lines printed by the in-container probe scripts -> ``{name: rc}``."""
    found: dict[str, int] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            found[parts[0]] = int(parts[1])
    return found


def _short(image_id: str) -> str:
    algo, _, digest = image_id.partition(":")
    return f"{algo}:{digest[:12]}" if digest else image_id[:19]


# ----------------------------------------------------------------------------- context


@dataclass(frozen=True)
class Options:
    """What the user asked for (see :func:`parse_args`)."""

    services: tuple[str, ...] = ()
    image_tag: str = "production"
    budgets: dict[str, int] = field(default_factory=dict)
    skip_build: bool = False


@dataclass
class Run:
    """A finished short-lived container."""

    code: int
    out: str
    err: str = ""

    @property
    def text(self) -> str:
        return (self.out + "\n" + self.err).strip()


class Context:
    """Shared, lazily started resources; :meth:`close` removes them."""

    def __init__(
        self,
        options: Options,
        project: Project | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options
        self.project = project or services.load()
        unknown = set(options.budgets) - {s.name for s in self.project.services}
        if unknown:
            self.project.service(sorted(unknown)[0])  # raises, naming the known ones
        self.services = self.project.select(options.services)
        self.echo = echo
        self.client = engine.client()
        self.run_id = uuid.uuid4().hex[:8]
        self._tmp = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}-"))
        self._tmp.chmod(0o755)
        self._infra: testinfra.TestInfra | None = None
        self._started: dict[str, str] = {}
        self._start_errors: dict[str, str] = {}
        self._containers: list[str] = []
        self._volumes: list[str] = []

    def ref(self, svc: Service) -> str:
        """The image under test for ``svc``."""
        return svc.ref(self.options.image_tag)

    def budget(self, svc: Service) -> int:
        return self.options.budgets.get(svc.name, svc.budget_mb)

    def name(self, what: str) -> str:
        return f"{RUN_PREFIX}-{self.run_id}-{what}"

    def tmpdir(self, name: str, mode: int = 0o755) -> Path:
        path = self._tmp / name
        path.mkdir(mode=mode, exist_ok=True)
        path.chmod(mode)
        return path

    def infra(self) -> testinfra.TestInfra:
        if self._infra is None:
            self._infra = testinfra.start(prefix=RUN_PREFIX)
        return self._infra

    def secrets_dir(self, name: str = "secrets", postgres_password: str | None = None) -> Path:
        """A Docker secrets directory: ``postgres_password`` (the test database's unless
        given) and ``jwt_secret``, mode 0644 (read by UID 1000 in the container)."""
        folder = self.tmpdir(name)
        if not (folder / "jwt_secret").exists():
            password = postgres_password or self.infra().postgres_password
            (folder / "postgres_password").write_text(password)
            (folder / "jwt_secret").write_text(secrets.token_urlsafe(48))
            for path in folder.iterdir():
                path.chmod(0o644)
        return folder

    def jwt_only_dir(self) -> Path:
        """A secrets directory that lacks ``postgres_password``."""
        folder = self.tmpdir("jwt-only")
        target = folder / "jwt_secret"
        target.write_text(secrets.token_urlsafe(48))
        target.chmod(0o644)
        return folder

    def run(self, image: str, command: Sequence[str], **kwargs: Any) -> Run:
        """Run a short-lived container to completion; its exit code, stdout and stderr."""
        name = self.name(f"run-{uuid.uuid4().hex[:6]}")
        try:
            self.client.container.run(
                image, list(command), detach=True, name=name, pull="never", **kwargs
            )
            code = int(str(self.client.container.wait(name)))
            out: list[str] = []
            err: list[str] = []
            logs = cast(Iterable[tuple[str, bytes]], self.client.container.logs(name, stream=True))
            for source, chunk in logs:
                (out if source == "stdout" else err).append(chunk.decode(errors="replace"))
        except DockerException as exc:
            return Run(exc.return_code, exc.stdout or "", exc.stderr or "")
        finally:
            with contextlib.suppress(DockerException):
                self.client.container.remove(name, force=True, volumes=True)
        return Run(code, "".join(out), "".join(err))

    def volume(self) -> str:
        name = self.name(f"vol{len(self._volumes)}")
        with engine.docker_errors(f"Creating the volume {name}"):
            self.client.volume.create(name)
        self._volumes.append(name)
        return name

    def running(self) -> dict[str, str]:
        """Every service's production container on the test network (selected ones from the
        image under test, the others as their dependencies), started once and waited for
        until healthy (bounded). Returns service -> container name; failures per service are
        in :attr:`start_errors`."""
        if self._started or self._start_errors:
            return self._started
        infra = self.infra()
        selected = {s.name for s in self.services}
        for svc in self.project.services:
            image = self.ref(svc) if svc.name in selected else svc.ref("production")
            name = self.name(svc.name)
            self._containers.append(name)
            try:
                with engine.docker_errors(f"Starting {svc.name} ({image})"):
                    self.client.container.run(
                        image,
                        detach=True,
                        name=name,
                        networks=[infra.network],
                        network_aliases=[svc.name],
                        envs=infra.env(internal=True),
                        volumes=[(str(self.secrets_dir()), "/run/secrets", "ro")],
                        pull="never",
                        **HARDENING,
                    )
                self._started[svc.name] = name
            except XorbError as exc:
                self._start_errors[svc.name] = str(exc)
        deadline = time.monotonic() + START_TIMEOUT
        for svc_name, name in list(self._started.items()):
            status = self._wait_healthy(name, deadline)
            if status != "healthy":
                logs = self._logs(name)
                self._start_errors[svc_name] = f"is {status}; last log lines:\n{logs}"
                del self._started[svc_name]
        return self._started

    @property
    def start_errors(self) -> dict[str, str]:
        return self._start_errors

    def _wait_healthy(self, name: str, deadline: float) -> str:
        status = "starting"
        while time.monotonic() < deadline:
            state = self.client.container.inspect(name).state
            status = str(state.health.status if state.health else "no healthcheck")
            if status in ("healthy", "unhealthy") or not state.running:
                return status if state.running else f"exited ({state.exit_code})"
            time.sleep(0.5)
        return f"{status} after {START_TIMEOUT:.0f}s"

    def _logs(self, name: str, lines: int = 10) -> str:
        try:
            return str(self.client.container.logs(name, tail=lines)).strip()
        except DockerException:
            return "(no logs)"

    def close(self) -> None:
        """Remove every container, volume and the test infrastructure; safe to call twice."""
        if self._containers:
            with contextlib.suppress(DockerException):
                self.client.container.remove(self._containers, force=True, volumes=True)
            self._containers = []
        self._started = {}
        self._start_errors = {}
        if self._volumes:
            with contextlib.suppress(DockerException):
                self.client.volume.remove(list[Any](self._volumes))
            self._volumes = []
        if self._infra is not None:
            self._infra.stop()
            self._infra = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


# ----------------------------------------------------------------------------- runner


def run_all(ctx: Context, out: Callable[[str], None] = print) -> list[Result]:
    """Run every category in order, printing as the guide does; the results."""
    out(HEADER)
    out(RULE)
    results: list[Result] = []
    for check in CATEGORIES:
        out(f"🧪 Running: {check.name}")
        results.append(check(ctx))
        out("")
    for line in summary_lines(results):
        out(line)
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m xorb_tools.structure",
        description="The XORB container test suite (eight categories against real images).",
    )
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME",
        help="check only this service (repeatable; default: every service of the table)",
    )
    parser.add_argument(
        "--image-tag",
        default="production",
        metavar="TAG",
        help="the tag of each selected service's image to check (default: production)",
    )
    parser.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="SERVICE=MB",
        help="override a service's size budget in MB (repeatable)",
    )
    parser.add_argument(
        "--skip-build",
        action="store_true",
        help="do not build: only check that the images of every target exist",
    )
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        services=tuple(args.service),
        image_tag=args.image_tag,
        budgets=parse_budgets(args.budget),
        skip_build=args.skip_build,
    )


def _print(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: 0 when all eight categories pass, 1 when any fails, 2 on bad usage."""
    args = parse_args(argv)
    try:
        options = options_from(args)
        with Context(options, echo=_print) as ctx:
            results = run_all(ctx, _print)
    except XorbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
