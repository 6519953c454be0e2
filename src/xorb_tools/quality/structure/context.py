"""What several categories share: test infrastructure, secrets and running containers,
started lazily and always removed (:meth:`Context.close`)."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from python_on_whales.exceptions import DockerException

from xorb_tools.core import engine, services
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project, Service
from xorb_tools.quality.structure.base import HARDENING, RUN_PREFIX, START_TIMEOUT
from xorb_tools.testing import testinfra

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
        given), ``jwt_secret`` and ``redis_password`` (the same password, as the test Redis
        has), mode 0644 (read by UID 1000 in the container)."""
        folder = self.tmpdir(name)
        if not (folder / "jwt_secret").exists():
            password = postgres_password or self.infra().postgres_password
            (folder / "postgres_password").write_text(password)
            (folder / "jwt_secret").write_text(secrets.token_urlsafe(48))
            (folder / "redis_password").write_text(password)
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
