"""An environment's compose stack as data: its file and overrides, variables (image tags,
infrastructure images, secrets folder), the env file compose reads, profiles, and the
nginx switch folder. Opening one resolves images but starts nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from python_on_whales import DockerClient

from xorb_tools.core import engine, names, services
from xorb_tools.core.errors import XorbError
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


def durable_temporal(stack: Stack) -> None:
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
        services.PROJECT_VAR: services.load().namespace,
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
        durable_temporal(stack)
        ref = variables.setdefault("XORB_GRAFANA_IMAGE", GRAFANA_DEFAULT)
        if grafana and grafana_available(docker, ref):
            stack.profiles.append(GRAFANA)
        elif grafana:
            stack.notes.append(
                f"Grafana is left out: {ref} is not here and cannot be pulled "
                "(it has no air-gapped image; load it with `docker load` to get dashboards)."
            )
    return stack
