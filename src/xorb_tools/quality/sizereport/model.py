"""The size report as data, and its pure parts: layers paired with the history that made them,
what the images share, budgets, dive's figures and the change since the previous report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xorb_tools.core import images
from xorb_tools.core.errors import XorbError

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


@dataclass(frozen=True)
class Published:
    """One platform of a pushed release image, as the registry holds it."""

    service: str
    ref: str
    platform: str
    compressed_bytes: int
    """Manifest, config and compressed layers: what a node pulls."""
    attestation_bytes: int
    """Provenance and SBOM statements plus their manifest."""


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
    published: list[Published] = field(default_factory=list)
    """``--release V``: every platform of each service's release index in the registry."""


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
