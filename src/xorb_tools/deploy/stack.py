"""The compose stacks: ``inv up|down|logs|ps|restart|scale|deploy|exec|stats|secrets.init``.

One environment is one compose file, ``compose/docker-compose.<environment>.yml`` (it
extends the base ``compose/docker-compose.yml``), and one project, ``xorb-<environment>``.
:func:`open_stack` makes the python-on-whales client for it: the compose file, the project
name, the profiles, and an env file (``$TMPDIR/xorb-compose-<uid>/xorb-<env>-<content digest>.env``)
that holds the variables the compose files read, i.e. image references and the secrets
folder, never a secret value. The process environment still wins over that file, as compose does.

Before anything starts, :func:`preflight` renders the configuration (``docker compose
config``, which fails on a broken file) and checks that every secret file it mounts exists;
a problem is one :class:`XorbError` sentence and nothing has been created.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_on_whales import DockerClient

from xorb_tools.core import engine, names, services
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import secrets_init
from xorb_tools.rootfs import infra

ROOT = services.ROOT
COMPOSE_DIR = ROOT / "compose"
BASE_FILE = COMPOSE_DIR / "docker-compose.yml"
"""Outside the checkout: the env files are derived (named by their content), and a command
that fails must not leave files in the working tree."""
ImageBuilder = Callable[[str], object]
"""Builds an environment's service images as ``inv build --environment E`` does."""
GRAFANA = "grafana"
GRAFANA_DEFAULT = "grafana/grafana:11.3.0"
WAIT_TIMEOUT = 300
"""Seconds ``up --wait`` waits for every container to be healthy."""
# Infrastructure images each stack runs (rows of xorb_tools.rootfs.infra).
INFRA: dict[str, tuple[str, ...]] = {
    "development": ("postgres", "redis", "temporal", "prometheus"),
    "staging": ("postgres", "redis", "temporal", "prometheus", "nginx"),
    "production": ("postgres", "redis", "temporal", "prometheus", "nginx"),
}
SWITCH_DIR_VAR = "XORB_NGINX_SWITCH_DIR"
"""Compose variable: the folder nginx includes ``*.conf`` from (the blue-green upstream)."""
OVERRIDES_VAR = "XORB_COMPOSE_OVERRIDES"
"""Compose files (``os.pathsep``-separated) merged over every stack's file: a site's or a
test suite's own settings (e.g. shorter health checks), for compose and swarm alike."""


def compose_file(environment: str, root: Path = ROOT) -> Path:
    """The compose file of ``environment``; one sentence when there is none."""
    services.load().check_environment(environment)
    path = root / "compose" / f"docker-compose.{environment}.yml"
    if not path.is_file():
        names = (p.name.split(".")[1] for p in path.parent.glob("docker-compose.*.yml"))
        have = sorted(n for n in names if n in services.load().environments)
        raise XorbError(
            f"There is no compose stack for {environment}: {path.relative_to(root)} does not "
            f"exist (stacks: {', '.join(have) or 'none'})."
        )
    return path


def override_files() -> list[Path]:
    """The files :data:`OVERRIDES_VAR` names; one sentence when one is missing."""
    paths = [Path(p) for p in os.environ.get(OVERRIDES_VAR, "").split(os.pathsep) if p]
    for path in paths:
        if not path.is_file():
            raise XorbError(f"{OVERRIDES_VAR} names {path}, which is not a file: fix or unset it.")
    return [p.resolve() for p in paths]


def _private_dir(path: Path) -> None:
    """``path`` as a folder of this user's alone (it is in a shared temporary folder)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise XorbError(f"{path} is not a private folder of this user: remove it and retry.")


def switch_dir(environment: str, *, create: bool = False) -> Path:
    """The folder (0755) mounted into nginx whose ``*.conf`` pick the live blue-green colour.

    Created only with ``create``: by what starts nginx or writes the switch, once its checks
    passed, so a command that fails before that leaves no folder behind.
    """
    from xorb_tools.deploy import deploylog

    path = deploylog.state_dir(create=create) / names.project_name(environment) / "nginx"
    if create:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)
    return path


def image_tag(environment: str) -> str:
    """The tag ``inv build --environment E`` gives its natural target: ``:<environment>``."""
    return environment


def secrets_folder(secrets_dir: str | Path | None = None) -> Path:
    """The folder of secret files: ``secrets_dir``, else ``secrets/`` in the repository."""
    return Path(secrets_dir).resolve() if secrets_dir else ROOT / "secrets"


def parse_scales(pairs: Iterable[str]) -> dict[str, int]:
    """``["worker=4", "api=2"]`` -> ``{"worker": 4, "api": 2}``, or one sentence why not."""
    scales: dict[str, int] = {}
    for pair in pairs:
        name, sep, count = pair.partition("=")
        count = count.strip()
        if not sep or not name.strip() or not (count.isascii() and count.isdigit()):
            raise XorbError(f"Cannot read {pair!r}: write SERVICE=N, e.g. worker=4.")
        scales[name.strip()] = int(count)
    if not scales:
        raise XorbError("Name what to scale as SERVICE=N, e.g. `inv scale worker=4`.")
    return scales


def env_lines(variables: Mapping[str, str]) -> str:
    """An env file compose reads (``--env-file``); values are image refs and paths only."""
    for key, value in variables.items():
        if "\n" in value or "\n" in key:
            raise XorbError(f"Compose variable {key} must be one line.")
    return "".join(f"{k}={v}\n" for k, v in sorted(variables.items()))


@dataclass
class Stack:
    """One environment's compose project and the client that drives it."""

    environment: str
    file: Path
    variables: dict[str, str]
    profiles: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """One-line remarks for the user (e.g. Grafana left out)."""
    extra_files: list[Path] = field(default_factory=list)
    """Compose files merged over :attr:`file` (a test suite's own settings)."""
    _docker: DockerClient | None = None

    @property
    def project(self) -> str:
        return names.project_name(self.environment)

    @property
    def env_file(self) -> Path:
        """The env file compose reads for these variables, named by its content.

        One file per project was rewritten by every command: two at once on one project
        (`inv logs` during `inv up`, or two --secrets-dir) could read each other's values
        or a half-written file, and compose then fell back to the defaults.
        """
        digest = hashlib.sha256(env_lines(self.variables).encode()).hexdigest()[:12]
        return names.ENV_DIR / f"{self.project}-{digest}.env"

    @property
    def docker(self) -> DockerClient:
        """The python-on-whales client bound to this compose project."""
        if self._docker is None:
            _private_dir(names.ENV_DIR)
            path = self.env_file
            staging = path.with_name(f".{path.name}.{os.getpid()}")
            staging.write_text(env_lines(self.variables), encoding="utf-8")
            staging.replace(path)  # whole, never half-written, for a concurrent reader
            base = engine.client().client_config
            self._docker = DockerClient(
                client_call=list(base.client_call),
                compose_files=[self.file, *self.extra_files],
                compose_project_name=self.project,
                compose_env_files=[self.env_file],
                compose_profiles=list(self.profiles),
            )
        return self._docker


def grafana_available(docker: DockerClient, ref: str) -> bool:
    """Whether the Grafana image is local or can be pulled (it has no air-gapped stand-in)."""
    return engine.have_image(ref, docker)


TEMPORAL_DURABLE = ROOT / "compose" / "overrides" / "temporal-durable.yml"
DURABLE_ENVIRONMENTS = ("staging", "production")


def _durable_temporal(stack: Stack) -> None:
    """Staging and production never run Temporal with workflows in memory: when the
    air-gapped dev server stands in for temporalio/auto-setup, it gets a database file on a
    volume (:data:`TEMPORAL_DURABLE`), and a note says so."""
    dev_server = infra.get("temporal").ref
    if stack.environment not in DURABLE_ENVIRONMENTS:
        return
    if stack.variables.get("XORB_TEMPORAL_IMAGE") != dev_server:
        return
    stack.extra_files.append(TEMPORAL_DURABLE)
    stack.notes.append(
        f"Temporal: temporalio/auto-setup cannot be had, so {dev_server} runs with its "
        "workflows in a SQLite file on the volume temporal-data (they survive a restart; one "
        "node, no archival)."
    )


def open_stack(
    environment: str,
    *,
    secrets_dir: str | Path | None = None,
    resolve_images: bool = True,
    grafana: bool = True,
) -> Stack:
    """The :class:`Stack` of ``environment`` with its variables and profiles worked out."""
    path = compose_file(environment)
    variables = {
        "XORB_SECRETS": str(secrets_folder(secrets_dir)),
        "XORB_IMAGE_TAG": image_tag(environment),
        SWITCH_DIR_VAR: str(switch_dir(environment)),
    }
    stack = Stack(environment, path, variables, extra_files=override_files())
    if resolve_images:
        engine.require_daemon()  # one sentence, not a traceback from the first image lookup
        docker = engine.client()
        # Bringing a stack up on a host with no registry builds the missing air-gapped
        # infrastructure images first, as `inv build` does the base image, and says so.
        wanted = INFRA.get(environment, ())
        variables.update(infra.resolve_env(wanted, client=docker, build_missing=True))
        _durable_temporal(stack)
        ref = variables.setdefault("XORB_GRAFANA_IMAGE", GRAFANA_DEFAULT)
        if grafana and grafana_available(docker, ref):
            stack.profiles.append(GRAFANA)
        elif grafana:
            stack.notes.append(
                f"Grafana is left out: {ref} is not here and cannot be pulled "
                "(it has no air-gapped image; load it with `docker load` to get dashboards)."
            )
    return stack


# --------------------------------------------------------------------------------------------
# Checks before anything starts
# --------------------------------------------------------------------------------------------


def render(stack: Stack) -> dict[str, Any]:
    """``docker compose config`` as a dict; a broken compose file is one XorbError."""
    engine.compose_version()  # no compose plugin: say so, not "unknown flag: --file"
    with engine.docker_errors(f"Validating {stack.file.relative_to(ROOT)} (docker compose config)"):
        config = stack.docker.compose.config(return_json=True)
    if not isinstance(config, dict):
        raise XorbError(f"docker compose config returned no configuration for {stack.file}.")
    return config


def secret_files(config: Mapping[str, Any]) -> dict[str, Path]:
    """``{secret name: host file}`` of a rendered configuration."""
    out: dict[str, Path] = {}
    for name, spec in (config.get("secrets") or {}).items():
        if isinstance(spec, dict) and spec.get("file"):
            out[str(name)] = Path(str(spec["file"]))
    return out


def preflight(stack: Stack) -> dict[str, Any]:
    """Validate the compose file and the secret files it mounts; return the configuration."""
    config = render(stack)
    absent = secrets_init.missing(secret_files(config))
    if absent:
        raise XorbError(
            f"The {stack.environment} stack needs secret file(s) {', '.join(absent)} in "
            f"{stack.variables['XORB_SECRETS']}: run "
            f"`uv run inv secrets.init --environment {stack.environment}`."
        )
    return config


def check_services(config: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """``names`` if every one is a service of the stack, else one sentence."""
    known = sorted((config.get("services") or {}).keys())
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise XorbError(
            f"Unknown service(s) {', '.join(unknown)}: the stack has {', '.join(known)}."
        )
    return wanted


def validate(environment: str, secrets_dir: str | Path | None = None) -> list[str]:
    """Problems of ``environment``'s compose stack (``inv config.validate``), one line each.

    Empty when it is fine or when the environment has no compose stack; a compose file that
    does not render and missing secret files are each one line.
    """
    try:
        stack = open_stack(environment, secrets_dir=secrets_dir, resolve_images=False)
    except XorbError:
        return []  # no compose file for this environment (checked by check_environment)
    stack.profiles.append(GRAFANA)
    try:
        config = render(stack)
    except XorbError as exc:
        return [" ".join(line.strip() for line in str(exc).splitlines())]
    folder = stack.variables["XORB_SECRETS"]
    files = secret_files(config)
    absent = secrets_init.missing(files)
    problems = [
        f"secret file {name} is missing from {folder}: run "
        f"`uv run inv secrets.init --environment {environment}`"
        for name in absent
    ]
    # The stack's own secrets (TLS pair, Grafana) by their rules; the application secrets
    # are the config manager's (build_config), so each problem is reported once.
    from common import secret_rules

    rules = secret_rules.load()
    for name, path in files.items():
        rule = rules.secrets.get(name)
        if name in absent or rule is None or rule.setting is not None:
            continue
        problem = rules.problem(rule, path.read_text(encoding="utf-8"), environment)
        if problem:
            problems.append(f"{problem} ({path})")
    return problems


# --------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerHealth:
    """One row of the health report."""

    name: str
    service: str
    state: str
    health: str


def health(stack: Stack) -> list[ContainerHealth]:
    """State and health of every container of the project (one-shot ones included)."""
    with engine.docker_errors(f"Listing the containers of {stack.project}"):
        containers = stack.docker.compose.ps(all=True)
    rows = []
    for c in containers:
        labels = c.config.labels or {}
        status = c.state.health.status if c.state.health else "-"
        rows.append(
            ContainerHealth(
                c.name,
                labels.get("com.docker.compose.service", "?"),
                str(c.state.status),
                str(status or "-"),
            )
        )
    return sorted(rows, key=lambda r: r.name)


def up(
    stack: Stack,
    names: Sequence[str] = (),
    *,
    wait: bool = True,
    scales: Mapping[str, int] | None = None,
    timeout: int = WAIT_TIMEOUT,
    build: ImageBuilder | None = None,
) -> None:
    """Start (or update) ``names`` (default all), waiting until every one is healthy;
    missing service images are built by ``build`` (see :func:`ensure_images`)."""
    config = preflight(stack)
    check_services(config, list(dict.fromkeys([*names, *(scales or {})])))
    ensure_images(stack, config, build)  # a fresh host has no service images yet
    switch_dir(stack.environment, create=True)  # nginx mounts it
    _say(f"starting {stack.project} ({stack.file.relative_to(ROOT)})")
    with engine.docker_errors(f"Starting {stack.project}"):
        stack.docker.compose.up(
            list(names) or None,
            detach=True,
            wait=wait,
            wait_timeout=timeout if wait else None,
            scales=dict(scales or {}),
            remove_orphans=True,
            pull="never",
            quiet=True,
        )


def down(stack: Stack, *, volumes: bool = False) -> None:
    """Stop and remove the project's containers and networks (and volumes with ``volumes``)."""
    with engine.docker_errors(f"Removing {stack.project}"):
        stack.docker.compose.down(remove_orphans=True, volumes=volumes, quiet=True)


def restart(stack: Stack, names: Sequence[str] = ()) -> None:
    config = preflight(stack)
    check_services(config, names)
    with engine.docker_errors(f"Restarting {stack.project}"):
        stack.docker.compose.restart(list(names) or None)


def logs(
    stack: Stack, names: Sequence[str] = (), *, follow: bool = False, tail: str = "100"
) -> None:
    """Print the project's logs (streamed; ``follow`` keeps following)."""
    with engine.docker_errors(f"Reading the logs of {stack.project}"):
        output = stack.docker.compose.logs(list(names), tail=tail, follow=follow, stream=True)
        for _source, chunk in output:
            sys.stdout.write(for_terminal(chunk.decode(errors="replace")))
        sys.stdout.flush()


_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")


def for_terminal(text: str, tty: bool | None = None) -> str:
    """``text`` as is on a terminal; without escape sequences and control characters
    (compose prefixes each log line with ``ESC[2K``) when stdout is a pipe or a file."""
    if sys.stdout.isatty() if tty is None else tty:
        return text
    return _CONTROL.sub("", text)


def execute(stack: Stack, service: str, command: Sequence[str], *, index: int = 1) -> None:
    """Run ``command`` (default a shell) in one container of ``service``, attached."""
    check_services(render(stack), [service])
    argv = list(command) or ["/bin/sh"]
    with engine.docker_errors(f"Running {argv[0]} in {stack.project}/{service}"):
        stack.docker.compose.execute(service, argv, index=index, tty=sys.stdin.isatty())


def missing_images(stack: Stack, config: Mapping[str, Any]) -> list[str]:
    """The XORB service images the stack runs that are not in the local store."""
    refs = {
        str(svc.get("image"))
        for svc in (config.get("services") or {}).values()
        if str(svc.get("image", "")).startswith(f"{infra.PREFIX}/")
        and not str(svc.get("image", "")).startswith(f"{infra.PREFIX}/infra-")
    }
    docker = engine.client()
    return sorted(r for r in refs if not docker.image.exists(r))


def ensure_images(stack: Stack, config: Mapping[str, Any], build: ImageBuilder | None) -> list[str]:
    """The service images the stack runs that were missing, built by ``build`` (announced
    in one line); without ``build``, one sentence saying how to build them. This package
    never builds by itself: the tasks hand in ``inv build``'s code."""
    absent = missing_images(stack, config)
    if not absent:
        return []
    if build is None:
        raise XorbError(
            f"Image(s) {', '.join(absent)} are not here: build them with "
            f"`uv run inv build --environment {stack.environment}`."
        )
    _say(f"building missing image(s): {', '.join(absent)}")
    build(stack.environment)
    return absent


def migrate(stack: Stack) -> None:
    """Run the one-shot migration (starting PostgreSQL first) and remove its container."""
    _say("migrating the database")
    with engine.docker_errors(f"Migrating {stack.project} (service migrate)"):
        stack.docker.compose.run("migrate", remove=True, tty=False)


def deploy(
    stack: Stack, *, timeout: int = WAIT_TIMEOUT, build: ImageBuilder | None = None
) -> list[ContainerHealth]:
    """Build what is missing, migrate, start everything with ``--wait``; return the health."""
    config = preflight(stack)
    ensure_images(stack, config, build)
    started = time.monotonic()
    migrate(stack)
    up(stack, timeout=timeout)  # the images are there now
    _say(f"{stack.project} is up in {time.monotonic() - started:.0f}s")
    return health(stack)


@dataclass(frozen=True)
class Usage:
    name: str
    cpu: str
    memory: str
    net_io: str


def stats(environment: str | None = None) -> list[Usage]:
    """CPU and memory of every running XORB compose container (of ``environment``)."""
    engine.require_daemon()
    docker = engine.client()
    label = "com.docker.compose.project"
    wanted = {names.project_name(environment)} if environment else None
    with engine.docker_errors("Listing containers"):
        containers = [
            c
            for c in docker.container.list(filters={"label": label})
            if (c.config.labels or {}).get(label, "").startswith("xorb-")
            and (wanted is None or (c.config.labels or {}).get(label) in wanted)
        ]
        if not containers:
            return []
        rows = docker.stats(containers)
    mib = 1024 * 1024
    return sorted(
        (
            Usage(
                str(s.container_name),
                f"{s.cpu_percentage:.1f}%",
                f"{s.memory_used / mib:.0f} / {s.memory_limit / mib:.0f} MiB",
                f"{s.net_download / mib:.1f} / {s.net_upload / mib:.1f} MiB",
            )
            for s in rows
        ),
        key=lambda u: u.name,
    )


def init_secrets(
    environment: str, secrets_dir: str | Path | None = None, *, force: bool = False
) -> tuple[list[secrets_init.Created], list[str]]:
    """Create the secret files ``environment``'s stack mounts and its rules require;
    return what happened to each and notes (see :func:`secrets_init.create`)."""
    from common import secret_rules

    rules = secret_rules.load()
    names = list(secrets_init.required_names(rules, environment))
    folder = secrets_folder(secrets_dir)
    try:
        stack = open_stack(environment, secrets_dir=folder, resolve_images=False)
    except XorbError:
        services.load().check_environment(environment)  # unknown environment: say so
        stack = None  # an environment without a compose stack: the rules alone
    if stack is not None:
        stack.profiles.append(GRAFANA)  # its secrets too, whether or not Grafana runs now
        files = secret_files(render(stack))
        foreign = [n for n, p in files.items() if p.parent != folder]
        if foreign:
            raise XorbError(f"Secret file(s) {', '.join(foreign)} are not in {folder}.")
        names += [n for n in files if n not in names]
    return secrets_init.create(folder, names, rules, environment=environment, force=force)


def _say(message: str) -> None:
    print(f"stack: {message}", file=sys.stderr, flush=True)
