"""`inv size-report` on the real production images: sizes, shared layers, dive, budgets,
and the JSON, markdown and SVG it writes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.docker.conftest import run_inv, uncompressed_mb
from xorb_tools.core.services import ROOT, Project

pytestmark = pytest.mark.docker

REPORTS = ROOT / "reports"


def test_all_images_within_budget_and_reports_written(
    production: dict[str, str], project: Project
) -> None:
    result = run_inv("size-report")
    assert result.code == 0, result.out
    data = json.loads((REPORTS / "size-report.json").read_text())
    by_service = {img["service"]: img for img in data["images"]}
    assert set(by_service) == {s.name for s in project.services}
    for svc in project.services:
        img = by_service[svc.name]
        assert img["over_budget"] is False
        assert img["budget_mb"] == svc.budget_mb
        # the same measure the image tests budget
        assert abs(img["uncompressed_bytes"] / 1e6 - uncompressed_mb(svc.ref("production"))) < 0.1
        assert 0 < img["compressed_bytes"] < img["uncompressed_bytes"]
        assert img["efficiency"] is not None and 0.5 < img["efficiency"] <= 1.0
        assert img["wasted_bytes"] is not None
        assert any(layer["created_by"].startswith("COPY") for layer in img["layers"])
        assert svc.ref("production") in result.out
    # the base and shared dependency layers are on disk once
    assert data["shared_bytes"] > 100e6
    assert data["total_on_disk_bytes"] < data["total_separate_bytes"]
    md = (REPORTS / "size-report.md").read_text()
    assert md.count("within budget") == len(project.services)
    svg = ET.fromstring((REPORTS / "size-report.svg").read_text())
    bars = [e for e in svg.iter("{http://www.w3.org/2000/svg}rect") if e.get("class")]
    assert len(bars) == 2 * len(project.services)


def test_a_budget_below_the_image_fails_naming_it(production: dict[str, str]) -> None:
    first = run_inv("size-report", "--no-dive", "--format", "json")
    assert first.code == 0, first.out
    result = run_inv("size-report", "--no-dive", "--budget", "api=10")
    assert result.code != 0, result.out
    errors = [ln for ln in result.lines if ln.startswith("error:")]
    assert len(errors) == 1 and "Over budget: api (" in errors[0], result.out
    assert "> 10 MB" in errors[0]
    assert "orchestrator" not in errors[0] and "worker" not in errors[0]
    # the run compared with the previous one and still wrote its reports
    data = json.loads((REPORTS / "size-report.json").read_text())
    assert data["compared_with"] and data["deltas"][0]["delta_previous_mb"] is not None


def test_compare_with_a_missing_file_is_one_sentence(production: dict[str, str]) -> None:
    result = run_inv("size-report", "--no-dive", "--compare", "/nonexistent/old.json")
    assert result.code != 0
    assert "No report to compare with at /nonexistent/old.json" in result.out
