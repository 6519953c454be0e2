"""The pure parts of ``inv size-report``: pairing history with layers, the size arithmetic,
shared bytes, budgets, deltas and the markdown/SVG rendering."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from xorb_tools.core.errors import XorbError
from xorb_tools.quality import sizereport as sr

MB = sr.MB


def layer(diff_id: str, mb: float, by: str = "RUN x") -> sr.LayerSize:
    return sr.LayerSize(diff_id, by, int(mb * MB))


def image(service: str, layers: list[sr.LayerSize], budget: int = 100) -> sr.ImageSize:
    return sr.ImageSize(
        service=service,
        ref=f"xorb/{service}:production",
        uncompressed_bytes=sum(x.size_bytes for x in layers),
        compressed_bytes=sum(x.size_bytes for x in layers) // 3,
        budget_mb=budget,
        layers=layers,
    )


def three() -> list[sr.ImageSize]:
    base, deps = layer("sha256:base", 120, ""), layer("sha256:deps", 60, "COPY /opt/venv")
    return [
        image("api", [base, deps, layer("sha256:a", 20)], budget=230),
        image("orchestrator", [base, deps, layer("sha256:o", 60)], budget=260),
        image("worker", [base, deps, layer("sha256:w", 1)], budget=200),
    ]


def test_shared_layers_are_counted_once_on_disk() -> None:
    imgs = three()
    separate, on_disk, shared = sr.share(imgs)
    assert separate == int((200 + 240 + 181) * MB)
    assert on_disk == int((120 + 60 + 20 + 60 + 1) * MB)
    assert shared == separate - on_disk == 2 * 180 * MB
    assert all(img.shared_bytes == 180 * MB for img in imgs)


def test_a_layer_repeated_inside_one_image_is_not_shared() -> None:
    empty = layer(sr.EMPTY_LAYER, 0.004)
    only = image("api", [layer("sha256:b", 10), empty, empty])
    sr.share([only])
    assert only.shared_bytes == 0


# ----------------------------------------------------------------------------- history


def history(*entries: tuple[str, int]) -> list[dict[str, Any]]:
    """Engine order: newest first."""
    return [{"CreatedBy": by, "Size": size} for by, size in reversed(entries)]


def test_containerd_history_pairs_every_sized_entry_with_a_diff_id() -> None:
    hist = history(
        ("", 126_000_000),
        ("ENV A=b", 0),
        ("RUN /bin/sh -c useradd xorb # buildkit", 4096),
        ("WORKDIR /app", 4096),
        ("COPY /opt/venv /opt/venv # buildkit", 61_000_000),
    )
    ids = ["sha256:base", sr.EMPTY_LAYER, sr.EMPTY_LAYER, "sha256:venv"]
    layers = sr.pair_layers(hist, ids)
    assert [x.diff_id for x in layers] == ids
    assert [x.created_by for x in layers] == [
        "(base image)",
        "RUN useradd xorb",
        "WORKDIR /app",
        "COPY /opt/venv /opt/venv",
    ]
    assert sum(x.size_bytes for x in layers) == 126_000_000 + 8192 + 61_000_000


def test_classic_history_drops_zero_byte_layers() -> None:
    hist = history(("", 100), ("WORKDIR /app", 0), ("COPY a b", 50))
    layers = sr.pair_layers(hist, ["sha256:base", sr.EMPTY_LAYER, "sha256:copy"])
    assert [(x.diff_id, x.size_bytes) for x in layers] == [
        ("sha256:base", 100),
        ("sha256:copy", 50),
    ]


def test_unmatched_history_fails_clearly() -> None:
    with pytest.raises(XorbError, match="Cannot match 1 history entries to 2 layers"):
        sr.pair_layers(history(("", 100)), ["sha256:a", "sha256:b"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("RUN |3 SERVICE=api PORT=8000 H=/ /bin/sh -c python3 -m compileall # buildkit",
         "RUN python3 -m compileall"),
        ("/bin/sh -c #(nop)  CMD [\"python\"]", 'CMD ["python"]'),
        ("COPY src/api /app/src/api # buildkit", "COPY src/api /app/src/api"),
        ("", "(base image)"),
    ],
)  # fmt: skip
def test_instruction_is_shortened(raw: str, expected: str) -> None:
    assert sr.instruction(raw) == expected


# ----------------------------------------------------------------------------- budgets


def test_budget_overrides_and_failure_names_the_image() -> None:
    budgets = sr.parse_budgets(["api=10"], ["api", "worker"])
    assert budgets == {"api": 10}
    imgs = three()
    imgs[0].budget_mb = budgets["api"]
    report = sr.Report(measure="m", images=imgs)
    assert [i.service for i in sr.over_budget(report)] == ["api"]
    message = sr.budget_failure(report)
    assert message is not None and message.startswith("Over budget: api (200.0 MB > 10 MB)")
    imgs[0].budget_mb = 230
    assert sr.budget_failure(report) is None


@pytest.mark.parametrize("raw", ["api", "api=", "api=-3", "api=ten", "=5"])
def test_bad_budget_flags_fail(raw: str) -> None:
    with pytest.raises(XorbError):
        sr.parse_budgets([raw], ["api"])


def test_unknown_service_in_budget_fails() -> None:
    with pytest.raises(XorbError, match="Unknown service 'web'"):
        sr.parse_budgets(["web=5"], ["api"])


def test_exact_budget_is_within() -> None:
    img = image("api", [layer("sha256:x", 230)], budget=230)
    assert not img.over_budget


# ----------------------------------------------------------------------------- compare


def test_deltas_against_previous_report_and_guide() -> None:
    imgs = three()
    separate, on_disk, shared = sr.share(imgs)
    previous = {"api": {"uncompressed_bytes": 250 * MB, "compressed_bytes": 80 * MB}}
    report = sr.Report("m", imgs, separate, on_disk, shared, "old.json", previous)
    rows = {d["service"]: d for d in sr.deltas(report)}
    assert rows["api"]["delta_previous_mb"] == -50.0
    assert rows["api"]["delta_guide_before_mb"] == 200 - 1200
    assert rows["api"]["delta_guide_after_mb"] == 200 - 400
    assert rows["worker"]["previous_mb"] is None


def test_json_round_trips_as_the_next_baseline() -> None:
    imgs = three()
    report = sr.Report("m", imgs, *sr.share(imgs))
    data = json.loads(json.dumps(sr.to_json(report)))
    assert data["schema"] == sr.SCHEMA
    assert data["images"][0]["layers"][0]["diff_id"] == "sha256:base"
    prev = sr.previous_sizes(data)
    assert prev["orchestrator"]["uncompressed_bytes"] == 240 * MB


def test_dive_summary_reads_efficiency_and_waste() -> None:
    doc = {"image": {"efficiencyScore": 0.9962, "inefficientBytes": 1277488, "sizeBytes": 1}}
    assert sr.dive_summary(doc) == (0.9962, 1277488)


# ----------------------------------------------------------------------------- rendering


def test_markdown_lists_images_totals_deltas_and_largest_layers() -> None:
    imgs = three()
    imgs[2].budget_mb = 100
    imgs[0].efficiency, imgs[0].wasted_bytes = 0.995, 1_300_000
    report = sr.Report("uncompressed", imgs, *sr.share(imgs))
    md = sr.markdown(report)
    assert "| `xorb/api:production` | 200.0 MB | 66.7 MB | 230 MB | within budget" in md
    assert "| `xorb/worker:production` | 181.0 MB" in md and "**OVER BUDGET**" in md
    assert "99.5%" in md and "1.3 MB" in md
    assert "All images together on disk: 261.0 MB" in md
    assert "| api | 200.0 MB | - | - | 1200 MB | -1000.0 MB | 400 MB | -200.0 MB |" in md
    assert "`COPY /opt/venv`" in md


def test_svg_is_well_formed_with_a_bar_and_budget_line_per_image() -> None:
    imgs = three()
    imgs[0].budget_mb = 10
    svg = sr.svg_chart(sr.Report("m", imgs))
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.get("class") == "uncompressed"]
    budgets = [ln for ln in root.iter(f"{ns}line") if ln.get("class") == "budget"]
    assert len(bars) == len(budgets) == 3
    assert bars[0].get("fill") == "#d62728"  # over budget in red
    assert bars[1].get("fill") == "#2c7fb8"
    widths = [float(b.get("width", "0")) for b in bars]
    assert widths[1] > widths[0] > widths[2]  # 240 > 200 > 181 MB
