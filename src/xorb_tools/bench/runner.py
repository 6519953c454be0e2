"""The engine half of ``inv bench``: builds, rebuilds, sizes and starts the images.

Everything happens on a scratch copy of the repository (the real tree is never edited) and
under the image namespace ``xorb-bench/`` (tags) and ``localhost:5000/xorb-bench/``
(registry cache), so the benchmark never replaces an image, tag or cache another build
uses. The one shared thing it must touch is the builder cache: a cold build needs
``docker buildx prune --all``, which only slows other builds down, never breaks them.

One *round* measures, in this order, each pair back to back so the ratio is fair::

    prune, ours sequential (cold)     prune, ours bake (cold)
    [full mode: prune, ours bake (cold)     prune, ours sequential (cold): the same pair
     in the opposite order, for the bake-vs-sequential ratio only]
    ours no-op and source change (x repeats; the first also times --cache none and a
    no-op that exports anyway)
    ours dependency change                                        (once)
    [last round: local cache growth over N small changes, then the tree restored]
    export to the registry cache; prune, bake from the local cache; prune, bake from
    the registry cache (fresh runners, rebuilding the tree the caches were written from)
    prune, baseline (cold); baseline no-op and source change (x repeats), dependency
    change (once)

then, once: image sizes (ours vs baseline) and startup to healthy (per service)."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import json
import os
import platform
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from python_on_whales.exceptions import DockerException

from xorb_tools import build
from xorb_tools.bench import report, task_start
from xorb_tools.bench.figures import figures
from xorb_tools.bench.report import Figure
from xorb_tools.bench.settings import Samples, Settings
from xorb_tools.build import planning
from xorb_tools.build.cache import FINGERPRINT_FILE, dir_size
from xorb_tools.core import ca, engine, images, registry, services
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project
from xorb_tools.core.workspace import copy_repo
from xorb_tools.quality import sizereport
from xorb_tools.testing import testinfra

PREFIX = "xorb-bench"
VERSION = "bench"
ENVIRONMENT = "staging"  # a real environment whose `:staging` tag lands under xorb-bench/
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
    renamed = tuple(dataclasses.replace(s, image=f"{PREFIX}/{s.name}") for s in project.services)
    return dataclasses.replace(project, services=renamed)


def _uv() -> str:
    path = os.environ.get("UV") or shutil.which("uv")
    if not path:
        raise XorbError("uv is not on PATH: install it (https://docs.astral.sh/uv/).")
    return path


def _run_uv(root: Path, *args: str) -> None:
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


class Bench:
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
            _run_uv(
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
        return f"{PREFIX}/{name}-baseline:{VERSION}"

    def ours_ref(self, name: str) -> str:
        return self.project.service(name).ref(VERSION)

    def _image_id(self, ref: str) -> str:
        return str(self.client.image.inspect(ref).id)

    def cold(self) -> None:
        """Empty builder cache (package cache mounts included) and no benchmark images."""
        with engine.docker_errors("Pruning the builder cache"):
            self.client.buildx.prune(all=True)
        self._remove_own_images()

    # ------------------------------------------------------------------ changes

    def change_source(self) -> None:
        """Change one line of the API package (a new marker each time: never cached)."""
        self._changes += 1
        path = self.root / SOURCE_FILE
        lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(SOURCE_MARK)]
        lines.append(f"{SOURCE_MARK}{self._changes}-{uuid.uuid4().hex[:8]}")
        path.write_text("\n".join(lines) + "\n")

    def _dependency_candidates(self) -> list[str]:
        text = (self.root / "uv.lock").read_text()
        return [p for p in DEPENDENCY_CANDIDATES if f'name = "{p}"' in text]

    def change_dependency(self) -> str:
        """Add one locked pure-Python package to the worker group and re-lock offline."""
        package = next(self._deps, None)
        if package is None:
            raise XorbError("No dependency candidates left for the dependency-change figure.")
        path = self.root / "pyproject.toml"
        text = path.read_text()
        anchor = f"{DEPENDENCY_GROUP} = [\n"
        if anchor not in text:
            raise XorbError(f"pyproject.toml has no `{anchor.strip()}` dependency group.")
        path.write_text(text.replace(anchor, f'{anchor}    "{package}",\n', 1))
        try:
            _run_uv(self.root, "lock", "--offline", "--quiet")
        except XorbError:
            # A fresh host's uv cache lacks the metadata of packages it never installed
            # (other platforms' and Python versions' splits): ask the index, which the
            # builds themselves need anyway.
            _run_uv(self.root, "lock", "--quiet")
        return package

    # ------------------------------------------------------------------ scenarios

    def _timed_change(
        self,
        key: str,
        before: dict[str, str],
        change: Callable[[], object],
        builder: Callable[[], tuple[float, dict[str, str]]],
    ) -> dict[str, str]:
        change()
        seconds, after = builder()
        self.samples.add(key, seconds)
        changed = sorted(name for name, digest in after.items() if before.get(name) != digest)
        self.samples.changed.setdefault(key, []).append(changed)
        self.log(f"  {key}: {seconds:.1f}s, changed: {', '.join(changed) or 'none'}")
        return after

    def round(self, index: int, last: bool) -> None:
        """One cold round and its warm measurements (see the module docstring)."""
        s = self.samples
        cache = self.work / f"cache-{index}"
        self.log(f"round {index + 1}/{self.settings.rounds}: cold, ours sequential")
        self.cold()
        s.add("cold_sequential", self.ours(self.work / f"cache-seq-{index}", parallel=False)[0])
        s.add("parallel_sequential", s.times["cold_sequential"][-1])
        self.log(f"  {s.times['cold_sequential'][-1]:.1f}s; cold, ours bake")
        self.cold()
        seconds, digests = self.ours(cache)
        s.add("cold_ours", seconds)
        s.add("parallel_bake", seconds)
        if self.settings.reversed_pairs:
            self.log(f"  {seconds:.1f}s; cold, ours bake then ours sequential (reversed order)")
            self.cold()
            bake = self.ours(self.work / f"cache-rev-{index}")[0]
            s.add("parallel_bake", bake)
            self.cold()
            seq = self.ours(self.work / f"cache-seq-rev-{index}", parallel=False)[0]
            s.add("parallel_sequential", seq)
            self.log(f"  {bake:.1f}s, {seq:.1f}s; warm measurements")
        else:
            self.log(f"  {seconds:.1f}s; warm measurements")
        for rep in range(self.settings.repeats):
            seconds, digests = self.ours(cache)
            s.add("noop_ours", seconds)
            if rep == 0:  # diagnostics: once per round keeps full mode within 20 min
                s.add("noop_ours_nocache", self.ours(cache, mode="none")[0])
                self._forget_inputs(cache)
                s.add("noop_ours_export", self.ours(cache)[0])
            digests = self._timed_change(
                "source_ours", digests, self.change_source, lambda: self.ours(cache)
            )
            if rep == 0:  # the dearest warm figure: once per round keeps full mode in 20 min
                digests = self._timed_change(
                    "dependency_ours", digests, self.change_dependency, lambda: self.ours(cache)
                )
        if last:
            self.growth()
        # A fresh runner rebuilds the tree its cache was exported from: nothing may change
        # the tree between the last build into `cache` and these two measurements.
        if self.registry_ok:
            self.ours(cache, mode="registry")  # export the registry cache (not measured)
        self.log("  fresh runner from the local cache")
        self.cold()
        s.add("fresh_local", self.ours(cache)[0])
        if self.registry_ok:
            self.log("  fresh runner from the registry cache")
            self.cold()
            s.add("fresh_registry", self.ours(cache, mode="registry")[0])
        self.log("  cold, baseline")
        self.cold()
        seconds, digests = self.baseline()
        s.add("cold_baseline", seconds)
        self.log(f"  {seconds:.1f}s; baseline warm measurements")
        for rep in range(self.settings.repeats):
            seconds, digests = self.baseline()
            s.add("noop_baseline", seconds)
            if rep == 0:  # the partner of each round's diagnostic no-ops
                s.add("noop_baseline_first", seconds)
            digests = self._timed_change(
                "source_baseline", digests, self.change_source, self.baseline
            )
            if rep == 0:
                digests = self._timed_change(
                    "dependency_baseline", digests, self.change_dependency, self.baseline
                )
        if last:  # ours again, from the same final tree, for sizes and startup
            self.ours(cache)

    @staticmethod
    def _forget_inputs(cache_dir: Path) -> None:
        """Make the next build export its local caches even though nothing changed."""
        for recorded in cache_dir.glob(f"*/*/{FINGERPRINT_FILE}"):
            recorded.unlink()

    def source_snapshot(self) -> str:
        """The text of the file :meth:`change_source` edits."""
        return (self.root / SOURCE_FILE).read_text()

    def restore_source(self, text: str) -> None:
        (self.root / SOURCE_FILE).write_text(text)

    def growth(self) -> None:
        """Local cache size over consecutive API builds with one-line changes, on a warm
        builder; the tree is left as it was found, so the caches the round exported still
        hold it."""
        cache = self.work / "cache-growth"
        before = self.source_snapshot()
        try:
            for i in range(self.settings.growth_builds):
                if i:
                    self.change_source()
                self.ours(cache, only=("api",))
                self.samples.growth_mb.append(dir_size(cache) / report.MB)
        finally:
            self.restore_source(before)
        self.log(f"  cache growth: {', '.join(f'{m:.0f}' for m in self.samples.growth_mb)} MB")

    def sizes(self) -> None:
        """Uncompressed and compressed bytes per image and of the three together."""
        for side, ref in (("ours", self.ours_ref), ("baseline", self.baseline_ref)):
            refs = {svc.name: ref(svc.name) for svc in self.project.services}
            layers: dict[str, list[tuple[str, int]]] = {}
            out: dict[str, float] = {}
            for name, r in refs.items():
                paired = sizereport.pair_layers(images.history_raw(r), images.diff_ids(r))
                layers[name] = [(p.diff_id, p.size_bytes) for p in paired]
                out[f"{name}_uncompressed"] = images.uncompressed_size(r) / report.MB
                out[f"{name}_compressed"] = images.compressed_size(r) / report.MB
            out["together_uncompressed"] = report.together(layers) / report.MB
            out["together_compressed"] = self._saved_bytes(list(refs.values())) / report.MB
            self.samples.sizes[side] = out

    def _saved_bytes(self, refs: list[str]) -> int:
        """Bytes of ``docker save`` of ``refs`` together: every blob (compressed) once."""
        with engine.docker_errors("Measuring the compressed size (docker save)"):
            stream = self.client.image.save(refs)
            return sum(len(chunk) for chunk in stream or [])

    def startup(self) -> None:
        """Seconds from ``docker run`` to the image's HEALTHCHECK reporting healthy."""
        with testinfra.start(prefix="xorb-bench") as infra:
            folder = self.work / "secrets"
            folder.mkdir(mode=0o755, exist_ok=True)
            (folder / "postgres_password").write_text(infra.postgres_password)
            (folder / "jwt_secret").write_text(secrets.token_urlsafe(48))
            (folder / "redis_password").write_text(infra.postgres_password)  # Redis's too
            for f in folder.iterdir():
                f.chmod(0o644)  # read by UID 1000 in the container
            for svc in self.project.services:
                for _ in range(self.settings.startup_runs):
                    seconds = self._start_once(svc.name, infra, folder)
                    if seconds is not None:
                        self.samples.startup.setdefault(svc.name, []).append(seconds)
                self.log(f"  startup {svc.name}: {self.samples.startup.get(svc.name)}")

    def _start_once(self, name: str, infra: testinfra.TestInfra, folder: Path) -> float | None:
        started = time.monotonic()
        container = self.client.container.run(
            self.ours_ref(name),
            detach=True,
            name=f"xorb-bench-{name}-{uuid.uuid4().hex[:6]}",
            networks=[infra.network],
            envs=infra.env(internal=True),
            volumes=[(str(folder), "/run/secrets", "ro")],
            read_only=True,
            tmpfs=["/tmp"],  # noqa: S108 - a tmpfs inside the container
            cap_drop=["ALL"],
            security_options=["no-new-privileges:true"],
        )
        try:
            deadline = started + STARTUP_TIMEOUT_S
            while time.monotonic() < deadline:
                state = self.client.container.inspect(container).state
                status = state.health.status if state.health else None
                if status == "healthy":
                    return time.monotonic() - started
                if not state.running:
                    break
                time.sleep(0.1)
            self.samples.notes[f"startup_{name}"] = "did not become healthy"
            return None
        finally:
            with contextlib.suppress(DockerException):
                self.client.container.remove(container, force=True)

    def cleanup(self) -> None:
        """Remove the benchmark's own images (never anything outside ``xorb-bench/``)."""
        self._remove_own_images()

    def _remove_own_images(self) -> None:
        tags: list[str] = []
        # Other builds add and remove images meanwhile: one that vanished is skipped.
        for image in self.client.image.list(filters={"reference": f"{PREFIX}/*"}):
            with contextlib.suppress(DockerException):
                tags += [tag for tag in image.repo_tags if tag.startswith(f"{PREFIX}/")]
        if tags:
            with contextlib.suppress(DockerException):
                self.client.image.remove(tags, force=True, prune=True)


def _key_store_size() -> str:
    """The size of BuildKit's key store, which every cache export walks (it slows ours, not
    the baseline, as it grows: ``inv doctor``)."""
    path = engine.buildkit_key_store()
    return f"{path.stat().st_size / report.MB:.1f} MB" if path else "not visible here"


def run(source: Path, settings: Settings, log: Log) -> tuple[list[Figure], dict[str, object]]:
    """Measure everything; returns the report rows and the run's metadata."""
    engine.require_daemon()
    engine.buildx_version()
    key_store = _key_store_size()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="xorb-bench-") as tmp:
        bench = Bench(source, Path(tmp), settings, log)
        log(f"scratch copy {bench.root}; base image {bench.base}")
        try:
            for i in range(settings.rounds):
                bench.round(i, last=i == settings.rounds - 1)
            log("image sizes")
            bench.sizes()
            log("startup to healthy")
            bench.startup()
        finally:
            bench.cleanup()
        names = [s.name for s in bench.project.services]
        meta: dict[str, object] = {
            "mode": "quick" if settings.quick else "full",
            "rounds": settings.rounds,
            "repeats": settings.repeats,
            "growth_builds": settings.growth_builds,
            "startup_runs": settings.startup_runs,
            "base_image": bench.base,
            "host": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
            "docker": engine.server_version(),
            "buildx": engine.buildx_version(),
            "buildkit_key_store": key_store,
            "wall_seconds": round(time.monotonic() - started, 1),
            "retries": len(bench.samples.retries),
            "raw": dataclasses.asdict(bench.samples),
        }
        log("task start-up overhead")
        start = task_start.figure(source, pairs=3 if settings.quick else 7)
        return [*figures(bench.samples, names), start], meta
