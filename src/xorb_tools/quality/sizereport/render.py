"""The size report for people and machines: JSON, markdown (the largest layers per image) and an
SVG bar chart against the budgets and the guide's figures."""

from __future__ import annotations

from dataclasses import asdict
from html import escape
from typing import Any

from xorb_tools.quality.sizereport.model import MB, SCHEMA, Report, deltas


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
    if report.published:
        out += [
            "",
            "## Published release (registry)",
            "",
            "| image | platform | compressed | attestations |",
            "| --- | --- | ---: | ---: |",
        ]
        out += [
            f"| `{p.ref}` | {p.platform} | {_mb(p.compressed_bytes)} "
            f"| {p.attestation_bytes / 1000:.1f} kB |"
            for p in report.published
        ]
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
