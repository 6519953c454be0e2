"""What one round of ``inv bench`` measures: the scratch copy changed (a source line, a
dependency), builds timed pair by pair against the baseline, and the local cache's growth."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from xorb_tools.bench import report
from xorb_tools.bench.builds import (
    DEPENDENCY_GROUP,
    SOURCE_FILE,
    SOURCE_MARK,
    Builds,
    run_uv,
)
from xorb_tools.build.cache import FINGERPRINT_FILE, dir_size
from xorb_tools.core.errors import XorbError


class Scenarios(Builds):
    """A run's scenarios: changes to the scratch copy, one round of timed builds, cache growth."""

    # ------------------------------------------------------------------ changes

    def change_source(self) -> None:
        """Change one line of the API package (a new marker each time: never cached)."""
        self._changes += 1
        path = self.root / SOURCE_FILE
        lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(SOURCE_MARK)]
        lines.append(f"{SOURCE_MARK}{self._changes}-{uuid.uuid4().hex[:8]}")
        path.write_text("\n".join(lines) + "\n")

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
            run_uv(self.root, "lock", "--offline", "--quiet")
        except XorbError:
            # A fresh host's uv cache lacks the metadata of packages it never installed
            # (other platforms' and Python versions' splits): ask the index, which the
            # builds themselves need anyway.
            run_uv(self.root, "lock", "--quiet")
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
