"""The builds ``inv bench`` times, on a scratch copy of the repository under the image namespace
``xorb-bench/``: ours (bake or sequential, any cache), the naive baseline, cold starts, and
the clean-up of what a run made."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from python_on_whales.exceptions import DockerException

from xorb_tools import build
from xorb_tools.bench.settings import Samples, Settings
from xorb_tools.build import planning
from xorb_tools.core import ca, engine, names, registry, services
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project
from xorb_tools.core.workspace import copy_repo


def prefix() -> str:
    """The benchmark's image namespace, inside the checkout's (``xorb-bench``)."""
    return names.suite_prefix("bench")


VERSION = "bench"
ENVIRONMENT = "staging"  # a real environment; its `:staging` tag lands under prefix()
BASELINE_DOCKERFILE = Path("bench") / "baseline" / "Dockerfile"
SOURCE_FILE = Path("src") / "api" / "routes.py"
SOURCE_MARK = "# bench-change: "
DEPENDENCY_GROUP = "worker"
# Small pure-Python packages already in uv.lock but outside the worker's closure: adding one
# to the worker group is a one-dependency change `uv lock --offline` can resolve on a host
# whose uv cache has seen the whole lock (else `uv lock` asks the index).
DEPENDENCY_CANDIDATES = (
    "iniconfig",
    "mdurl",
    "pluggy",
    "h11",
    "idna",
    "sniffio",
    "humanize",
    "annotated-doc",
    "pathspec",
    "distlib",
    "colorama",
    "pygments",
)
STARTUP_TIMEOUT_S = 120.0
ATTEMPTS = 3
Log = Callable[[str], None]
T = TypeVar("T")


def bench_project(root: Path) -> Project:
    """The copy's project with every image renamed into the ``xorb-bench/`` namespace."""
    project = services.load(root / "pyproject.toml")
    renamed = tuple(dataclasses.replace(s, image=f"{prefix()}/{s.name}") for s in project.services)
    return dataclasses.replace(project, services=renamed)


def _uv() -> str:
    path = os.environ.get("UV") or shutil.which("uv")
    if not path:
        raise XorbError("uv is not on PATH: install it (https://docs.astral.sh/uv/).")
    return path


def run_uv(root: Path, *args: str) -> None:
    proc = subprocess.run(
        [_uv(), *args, "--project", str(root)],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
    )
    if proc.returncode != 0:
        raise XorbError(f"uv {args[0]} failed in {root}:\n{proc.stderr.strip()[-1500:]}")


@contextlib.contextmanager
def _cache_dir(path: Path) -> Iterator[None]:
    old = os.environ.get("XORB_CACHE_DIR")
    os.environ["XORB_CACHE_DIR"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("XORB_CACHE_DIR", None)
        else:
            os.environ["XORB_CACHE_DIR"] = old


class Builds:
    """One benchmark run over a scratch copy of ``source``."""

    def __init__(self, source: Path, workdir: Path, settings: Settings, log: Log) -> None:
        self.settings = settings
        self.log = log
        self.work = workdir
        self.root = copy_repo(source, workdir / "repo")
        self.project = bench_project(self.root)
        self.samples = Samples()
        self.client = engine.client()
        self.ca_bundle = ca.find(settings.ca_cert)
        self.base, _ = planning.resolve_base(self.project, None)
        self.registry_ok, detail = registry.reachable(self.project.registry)
        if not self.registry_ok:
            self.samples.notes["fresh_registry"] = f"registry unreachable: {detail}"
        self._changes = 0
        self._deps = iter(self._dependency_candidates())

    def _dependency_candidates(self) -> list[str]:
        text = (self.root / "uv.lock").read_text()
        return [p for p in DEPENDENCY_CANDIDATES if f'name = "{p}"' in text]

    # ------------------------------------------------------------------ builds

    def ours(
        self,
        cache_dir: Path,
        *,
        parallel: bool = True,
        mode: str = "local",
        only: tuple[str, ...] = (),
    ) -> tuple[float, dict[str, str]]:
        """``inv build`` (plan + run) of the production images; wall seconds and digests."""
        options = build.Options(
            environment=ENVIRONMENT,
            target="production",
            services=only,
            version=VERSION,
            cache=mode,
            parallel=parallel,
            base_image=self.base,
            ca_cert=self.settings.ca_cert,
        )
        started = time.monotonic()
        with _cache_dir(cache_dir):
            results = self._retrying(
                lambda: build.run(build.plan(self.project, options), echo=False)
            )
        elapsed = time.monotonic() - started
        return elapsed, {r.service: r.digest or self._image_id(r.tag) for r in results}

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt``, up to :data:`ATTEMPTS` times. Other builds on the same engine
        prune the builder cache too (a build then fails with "not found"), and under load
        BuildKit's session can drop during a cache export. Every attempt's time counts."""
        for number in range(1, ATTEMPTS + 1):
            try:
                return attempt()
            except XorbError as exc:
                if number == ATTEMPTS:
                    raise
                first = str(exc).strip().splitlines()[-1][:160]
                self.log(f"  retrying after: {first}")
                self.samples.retries.append(first)
                time.sleep(5)
        raise AssertionError("unreachable")

    def baseline(self) -> tuple[float, dict[str, str]]:
        """The baseline, one plain ``buildx build`` per service, sequentially."""
        started = time.monotonic()
        digests: dict[str, str] = {}
        for svc in self.project.services:
            reqs = self.work / "requirements" / svc.group
            reqs.mkdir(parents=True, exist_ok=True)
            run_uv(
                self.root,
                "export",
                "--frozen",
                "--no-emit-project",
                "--no-header",
                "--quiet",
                "--only-group",
                svc.group,
                "--output-file",
                str(reqs / "requirements.txt"),
            )
            meta = self.work / f"baseline-{svc.name}.json"
            tag = self.baseline_ref(svc.name)
            self._retrying(functools.partial(self._baseline_one, svc.name, svc.package, reqs, meta))
            data = json.loads(meta.read_text()) if meta.exists() else {}
            digests[svc.name] = str(data.get("containerimage.digest") or self._image_id(tag))
        return time.monotonic() - started, digests

    def _baseline_one(self, name: str, package: str, reqs: Path, meta: Path) -> None:
        tail: collections.deque[str] = collections.deque(maxlen=20)
        try:
            # Streamed: without a stream python-on-whales inspects the image by its build
            # id, which the containerd image store does not resolve.
            for line in self.client.buildx.build(  # type: ignore[union-attr]
                self.root,
                file=self.root / BASELINE_DOCKERFILE,
                build_args={"BASE_IMAGE": self.base, "SERVICE": package},
                build_contexts={"requirements": str(reqs)},
                secrets=[self.ca_bundle.secret()] if self.ca_bundle else [],
                tags=[self.baseline_ref(name)],
                load=True,
                provenance=False,
                progress="plain",
                metadata_file=meta,
                stream_logs=True,
            ):
                tail.append(str(line).rstrip())
        except DockerException as exc:
            detail = "\n".join(ln for ln in tail if ln.strip())
            raise XorbError(
                f"Building the baseline image of {name} failed (docker exit {exc.return_code}):"
                f"\n{detail}"
            ) from None

    def baseline_ref(self, name: str) -> str:
        return f"{prefix()}/{name}-baseline:{VERSION}"

    def ours_ref(self, name: str) -> str:
        return self.project.service(name).ref(VERSION)

    def _image_id(self, ref: str) -> str:
        return str(self.client.image.inspect(ref).id)

    def cold(self) -> None:
        """Empty builder cache (package cache mounts included) and no benchmark images."""
        with engine.docker_errors("Pruning the builder cache"):
            self.client.buildx.prune(all=True)
        self._remove_own_images()

    def cleanup(self) -> None:
        """Remove the benchmark's own images (never anything outside ``xorb-bench/``)."""
        self._remove_own_images()

    def _remove_own_images(self) -> None:
        tags: list[str] = []
        # Other builds add and remove images meanwhile: one that vanished is skipped.
        for image in self.client.image.list(filters={"reference": f"{prefix()}/*"}):
            with contextlib.suppress(DockerException):
                tags += [tag for tag in image.repo_tags if tag.startswith(f"{prefix()}/")]
        if tags:
            with contextlib.suppress(DockerException):
                self.client.image.remove(tags, force=True, prune=True)
