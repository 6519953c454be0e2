"""The pure half of ``inv bench``: statistics, pairwise ratios, targets, shared-layer
accounting and the JSON / markdown report. No engine here; unit-tested.

Every figure keeps its raw samples. ``ours`` and ``baseline`` are summarised as median, min
and max; the ratio is computed pair by pair (sample *i* of one side against sample *i* of
the other, both measured in the same round) and then summarised the same way, so a busy
host slows both sides of a pair instead of skewing the comparison.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xorb_tools.core import images

MB = images.MB  # decimal, like every size the project reports
SCHEMA = 1

TargetKind = Literal["ratio_at_least", "ratio_at_most", "at_most", "every_run"]


@dataclass(frozen=True)
class Stats:
    """Median, min and max of some samples."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats | None:
        """The summary of ``samples``; ``None`` when there are none."""
        if not samples:
            return None
        return cls(float(statistics.median(samples)), min(samples), max(samples), len(samples))


def pair_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """``numerators[i] / denominators[i]`` for each pair measured together.

    Pairs whose denominator is zero are skipped; unpaired samples (one side ran more often)
    are ignored rather than paired with a sample from another round.
    """
    return [n / d for n, d in zip(numerators, denominators, strict=False) if d]


@dataclass(frozen=True)
class Target:
    """A target from issue 10, evaluated on medians."""

    kind: TargetKind
    value: float
    text: str

    def evaluate(self, figure: Figure) -> bool | None:
        """Met (True), missed (False) or not measurable (None) for ``figure``."""
        if self.kind == "every_run":
            return all(figure.checks) if figure.checks else None
        if self.kind == "at_most":
            ours = figure.ours
            return None if ours is None else ours.median <= self.value
        ratio = figure.ratio
        if ratio is None:
            return None
        if self.kind == "ratio_at_least":
            return ratio.median >= self.value
        return ratio.median <= self.value


@dataclass
class Figure:
    """One row of the report: our samples, the baseline's, their pairwise ratio, a target."""

    key: str
    label: str
    unit: str
    ours_samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    ratio_samples: list[float] = field(default_factory=list)
    ratio_label: str = ""
    baseline_label: str = "baseline"
    target: Target | None = None
    checks: list[bool] = field(default_factory=list)
    ours_text: str | None = None
    baseline_text: str | None = None
    note: str = ""

    @property
    def ours(self) -> Stats | None:
        return Stats.of(self.ours_samples)

    @property
    def baseline(self) -> Stats | None:
        return Stats.of(self.baseline_samples)

    @property
    def ratio(self) -> Stats | None:
        return Stats.of(self.ratio_samples)

    @property
    def met(self) -> bool | None:
        return self.target.evaluate(self) if self.target else None


# ----------------------------------------------------------------------------- sizes


def together(layers: Mapping[str, Sequence[tuple[str, int]]]) -> int:
    """Bytes of several images together, each layer (by diff id) counted once.

    ``layers`` maps an image to its ``(diff_id, bytes)`` pairs.
    """
    seen: dict[str, int] = {}
    for pairs in layers.values():
        for diff_id, size in pairs:
            seen.setdefault(diff_id, size)
    return sum(seen.values())


def shared(layers: Mapping[str, Sequence[tuple[str, int]]]) -> int:
    """Bytes saved by sharing: the images' separate sizes minus :func:`together`."""
    separate = sum(size for pairs in layers.values() for _, size in pairs)
    return separate - together(layers)


# ----------------------------------------------------------------------------- rendering


def _number(value: float, unit: str, *, with_unit: bool = True) -> str:
    if unit == "MB":
        text = f"{value:.0f}" if value >= 100 else f"{value:.1f}"
    elif unit == "x":
        text = f"{value:.2f}"
    elif unit == "s":
        text = f"{value:.1f}"
    else:
        text = f"{value:g}"
    if not with_unit or unit == "count":
        return text
    return f"{text}x" if unit == "x" else f"{text} {unit}"


def fmt(stats: Stats | None, unit: str) -> str:
    """``median (min-max)``, or the single value when there is one sample; ``-`` when none."""
    if stats is None:
        return "-"
    if stats.n == 1 or stats.low == stats.high:
        return _number(stats.median, unit)
    low = _number(stats.low, unit, with_unit=False)
    return f"{_number(stats.median, unit)} ({low}-{_number(stats.high, unit)})"


def _met(value: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "-"}[value]


def row(figure: Figure) -> list[str]:
    """The markdown cells of one figure."""
    ours = figure.ours_text if figure.ours_text is not None else fmt(figure.ours, figure.unit)
    base = (
        figure.baseline_text
        if figure.baseline_text is not None
        else fmt(figure.baseline, figure.unit)
    )
    if figure.baseline_label != "baseline" and base != "-":
        base = f"{base} ({figure.baseline_label})"
    ratio = fmt(figure.ratio, "x")
    if figure.ratio_label and ratio != "-":
        ratio = f"{ratio} {figure.ratio_label}"
    target = figure.target.text if figure.target else "-"
    return [figure.label, ours, base, ratio, target, _met(figure.met)]


def markdown(figures: Sequence[Figure], meta: Mapping[str, Any]) -> str:
    """The report as a markdown table, with how it was measured above it."""
    head = ["figure", "ours", "baseline", "ratio", "target", "met"]
    lines = [
        "# Build and image benchmark",
        "",
        f"Mode: {meta.get('mode', '?')}; {meta.get('rounds', '?')} cold round(s), "
        f"{meta.get('repeats', '?')} cheap repetition(s) per round; "
        f"host: {meta.get('host', '?')}; base image: {meta.get('base_image', '?')}; "
        f"BuildKit key store at the start: {meta.get('buildkit_key_store', '?')}; "
        f"total wall time {float(meta.get('wall_seconds', 0.0)):.0f} s.",
        "Values are median (min-max); ratios are computed pair by pair within a round. "
        "Sizes: uncompressed = sum of unpacked layers, compressed = what a registry transfers.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
    ]
    lines += ["| " + " | ".join(row(f)) + " |" for f in figures]
    notes = [f"- {f.label}: {f.note}" for f in figures if f.note]
    if meta.get("retries"):
        notes.append(
            f"- {meta['retries']} build(s) were retried after a transient engine error "
            "(a concurrent builder prune, a dropped session); their time includes every attempt."
        )
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


def _stats_json(stats: Stats | None) -> dict[str, float] | None:
    if stats is None:
        return None
    return {"median": stats.median, "min": stats.low, "max": stats.high, "n": stats.n}


def to_json(figures: Sequence[Figure], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The report as a JSON document (raw samples kept)."""
    return {
        "schema": SCHEMA,
        "meta": dict(meta),
        "figures": [
            {
                "key": f.key,
                "label": f.label,
                "unit": f.unit,
                "ours": _stats_json(f.ours),
                "baseline": _stats_json(f.baseline),
                "baseline_label": f.baseline_label,
                "ratio": _stats_json(f.ratio),
                "ratio_label": f.ratio_label,
                "samples": {
                    "ours": f.ours_samples,
                    "baseline": f.baseline_samples,
                    "ratio": f.ratio_samples,
                },
                "ours_text": f.ours_text,
                "baseline_text": f.baseline_text,
                "target": f.target.text if f.target else None,
                "met": f.met,
                "checks": f.checks,
                "note": f.note,
            }
            for f in figures
        ],
    }


def write(figures: Sequence[Figure], meta: Mapping[str, Any], output: Path) -> str:
    """Write ``output`` (JSON) and the markdown table beside it (``.md``); return the table."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(to_json(figures, meta), indent=2) + "\n")
    table = markdown(figures, meta)
    output.with_suffix(".md").write_text(table)
    return table
