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

import contextlib
import dataclasses
import os
import platform
import secrets
import tempfile
import time
import uuid
from pathlib import Path

from python_on_whales.exceptions import DockerException

from xorb_tools.bench import report, task_start
from xorb_tools.bench.builds import STARTUP_TIMEOUT_S, Log
from xorb_tools.bench.figures import figures
from xorb_tools.bench.report import Figure
from xorb_tools.bench.scenarios import Scenarios
from xorb_tools.bench.settings import Settings
from xorb_tools.core import engine, images
from xorb_tools.quality import sizereport
from xorb_tools.testing import testinfra


class Bench(Scenarios):
    """One benchmark run over a scratch copy of ``source``: rounds, then sizes and start-up."""

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
