"""``inv build``, the run: a :class:`~xorb_tools.build.planning.BuildPlan` through
``docker buildx`` (one bake process per target, or a sequential build), with BuildKit's
progress counted and shown, local caches swapped in only after success, and one
:class:`~xorb_tools.build.planning.Result` per image for the summary table."""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from python_on_whales.exceptions import DockerException

from xorb_tools.build import dockerfile, exports, progress
from xorb_tools.build.planning import (
    DOCKERFILE,
    NATURAL_TARGET,
    BuildPlan,
    ImageBuild,
    Options,
    Result,
    plan,
)
from xorb_tools.build.steps import StepCounter, stream_progress, warn_export_errors
from xorb_tools.core import engine, images, services
from xorb_tools.core.errors import XorbError


def _fail(what: str, exc: DockerException, tail: list[str]) -> XorbError:
    detail = "\n".join(ln for ln in tail if ln.strip()) or (exc.stderr or "").strip()
    if "Cannot connect to the Docker daemon" in detail:
        return XorbError(f"{what} failed: no Docker daemon answers; {engine.START_HINT}.")
    return XorbError(f"{what} failed (docker exit {exc.return_code}):\n{detail}")


_EXPORT_RACE = ("error writing layer blob", "only one connection allowed")


class CacheExportFailed(XorbError):
    """A bake built every image but a concurrent local cache export broke off."""


def export_race(tail: Sequence[str]) -> bool:
    """Whether a failed bake's last lines show a broken local cache export.

    With the docker driver, BuildKit streams each target's local cache export back through
    the client's session; when several targets export at once the session can refuse a
    second connection ("only one connection allowed") or drop one mid-blob. The images are
    built by then; only the export failed.
    """
    text = "\n".join(tail)
    return "exporting cache to client directory" in text and any(m in text for m in _EXPORT_RACE)


def run(build_plan: BuildPlan, *, echo: bool = True, show: str = "auto") -> list[Result]:
    """Build every image of the plan; on failure keep old images and caches, then raise.

    A local or registry cache that already holds this build's inputs is not exported
    again (:func:`.exports.skip_redundant`); the other local caches are exported into
    directories primed with the old blobs (:meth:`cache.CachePlan.prepare`). A bake whose
    concurrent local cache exports broke off (:func:`export_race`) is finished target by
    target: the builder has every layer by then, so that costs the exports only.
    """
    opts = build_plan.options
    show = show if echo else "quiet"
    results: list[Result] = []
    skipped = exports.skip_redundant(build_plan)
    if skipped and echo:
        print(
            f"build: the {build_plan.builds[0].cache.mode} cache of {', '.join(skipped)} "
            "already holds these inputs; not exporting it again",
            file=sys.stderr,
            flush=True,
        )
    with tempfile.TemporaryDirectory(prefix="xorb-build-") as tmp:
        try:
            for b in build_plan.builds:
                b.cache.prepare()
            if not opts.parallel:
                results = _sequential(build_plan, Path(tmp), show)
            else:
                try:
                    results = _bake(build_plan, Path(tmp), show)
                except CacheExportFailed:
                    print(
                        "build: bake's concurrent local cache exports broke off (a BuildKit "
                        "session limit of the docker driver); exporting target by target",
                        file=sys.stderr,
                        flush=True,
                    )
                    for b in build_plan.builds:
                        b.cache.discard()
                        b.cache.prepare()
                    results = _sequential(build_plan, Path(tmp), show)
        except BaseException:
            for b in build_plan.builds:
                b.cache.discard()
            raise
    for b in build_plan.builds:
        b.cache.commit()
    return results


def _bake(build_plan: BuildPlan, tmp: Path, show: str) -> list[Result]:
    """All targets at once: one bake file, one ``buildx bake <target>`` process each.

    Not one bake of every target: buildx serves every local cache export of a bake from
    one content store whose write locks are process-wide, so two targets exporting the
    same shared layer into their own directories collide, and each retry is logged as
    ``ERROR: (*service).Write failed … locked`` (a successful cold bake printed 2-5).
    BuildKit still runs a step the targets share once: the other processes wait for it
    and report it cached. The merged progress reads like one bake's (:class:`progress.Merge`).
    """
    opts = build_plan.options
    names = [b.service.name for b in build_plan.builds]
    bake_file = tmp / "bake.json"
    bake_file.write_text(json.dumps(build_plan.bake_definition(), indent=2))
    counter = StepCounter(names, None, _totals(build_plan), _per_target(build_plan))
    merge, lock = progress.Merge(names), threading.Lock()
    tails: dict[str, list[str]] = {name: [] for name in names}

    def one(name: str, display: progress.Display) -> tuple[dict[str, Any], float]:
        meta_file = tmp / f"{name}.metadata.json"
        started = time.monotonic()
        lines = engine.client().buildx.bake(
            targets=[name],
            builder=_builder_name(build_plan),
            files=[bake_file],
            progress="plain",
            metadata_file=meta_file,
            stream_logs=True,
        )
        for raw in lines:
            with lock:
                line = merge.line(name, raw.rstrip("\n"))
                counter.feed(line)
                display.feed(line)
                tails[name].append(line)
                del tails[name][:-25]
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        return meta.get(name, {}), time.monotonic() - started

    with (
        progress.Display(names, show, counter.counts) as display,
        ThreadPoolExecutor(max_workers=len(names) or 1) as pool,
    ):
        futures = {name: pool.submit(one, name, display) for name in names}
        wait(futures.values())
    warn_export_errors(counter)
    for name, future in futures.items():
        exc = future.exception()
        if isinstance(exc, DockerException):
            local = any(b.cache.mode == "local" for b in build_plan.builds)
            if local and not opts.no_cache_filter and export_race(tails[name]):
                raise CacheExportFailed(str(_fail("docker buildx bake", exc, tails[name])))
            raise _fail(f"Building {name}", exc, tails[name])
        if exc is not None:
            raise exc
    done = {name: future.result() for name, future in futures.items()}
    return [_result(b, *done[b.service.name], counter, opts.push) for b in build_plan.builds]


def write_report(build_plan: BuildPlan, results: Sequence[Result], path: Path) -> None:
    """The build's results as JSON (``reports/build.json``): for CI artifacts and tools."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "environment": build_plan.options.environment,
        "target": build_plan.options.target,
        "cache": build_plan.builds[0].cache.mode if build_plan.builds else "none",
        "builder": build_plan.builder.describe() if build_plan.builder else None,
        "images": [r.__dict__ for r in results],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _totals(build_plan: BuildPlan) -> dict[str, dict[str, int]]:
    steps = dockerfile.needed(build_plan.project.root / DOCKERFILE, build_plan.options.target)
    return {b.service.name: steps for b in build_plan.builds}


def _per_target(build_plan: BuildPlan) -> set[str]:
    values: dict[str, set[str]] = {}
    for b in build_plan.builds:
        for key, value in b.args.items():
            values.setdefault(key, set()).add(value)
    varying = {key for key, seen in values.items() if len(seen) > 1}
    return dockerfile.per_target(build_plan.project.root / DOCKERFILE, varying)


def _builder_name(build_plan: BuildPlan) -> str | None:
    return build_plan.builder.name if build_plan.builder else None


def _sequential(build_plan: BuildPlan, tmp: Path, show: str) -> list[Result]:
    opts = build_plan.options
    names = [b.service.name for b in build_plan.builds]
    results = []
    for b in build_plan.builds:
        meta_file = tmp / f"{b.service.name}.json"
        counter = StepCounter(names, b.service.name, _totals(build_plan))
        tail: list[str] = []
        started = time.monotonic()
        try:
            built = engine.client().buildx.build(
                build_plan.project.root,
                builder=_builder_name(build_plan),
                file=build_plan.project.root / DOCKERFILE,
                target=opts.target,
                build_args=b.args,
                tags=b.tags,
                labels=b.labels,
                cache_from=b.cache.cache_from or None,
                cache_to=b.cache.cache_to,
                secrets=build_plan.secrets,
                output=build_plan.output,
                platforms=list(opts.platforms) or None,
                provenance=build_plan.attest_option("provenance"),
                sbom=build_plan.attest_option("sbom"),
                progress="plain",
                metadata_file=meta_file,
                stream_logs=True,
            )
            stream_progress(built, counter, show, tail, [b.service.name])  # type: ignore[arg-type]
        except DockerException as exc:
            raise _fail(f"Building {b.service.name}", exc, tail) from None
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        results.append(_result(b, meta, time.monotonic() - started, counter, opts.push))
    return results


def _result(
    b: ImageBuild, meta: dict[str, Any], seconds: float, counter: StepCounter, pushed: bool
) -> Result:
    digest = str(meta.get("containerimage.digest", ""))
    tag = b.tags[0]
    size = 0 if pushed else images.uncompressed_size(tag)
    cached, total = counter.counts(b.service.name)
    return Result(b.service.name, tag, digest, size, seconds, cached, total)


def build_environment(environment: str) -> None:
    """Build ``environment``'s service images as ``inv build --environment E`` does by
    default (its natural target, cache ``auto``), quietly: what ``inv up`` and ``inv
    deploy`` hand to the stack code for images a fresh host does not have yet."""
    target = NATURAL_TARGET.get(environment, "production")
    options = Options(environment=environment, target=target)
    run(plan(services.load(), options), echo=False)
