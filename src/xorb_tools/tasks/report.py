"""Report tasks: ``security-scan`` (trivy + hadolint) and ``size-report`` (sizes, layers,
shared bytes, dive, budgets). The logic lives in ``xorb_tools.quality.scan`` and
``xorb_tools.quality.sizereport``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task
from rich.console import Console

from xorb_tools.core import services
from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools.quality import scan, sizereport
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    scan = lazy("xorb_tools.quality.scan")
    sizereport = lazy("xorb_tools.quality.sizereport")
from xorb_tools.core.errors import XorbError
from xorb_tools.tasks._util import console, split_names, table, user_errors

MB = 1_000_000  # as sizereport's
# With --format json|sarif stdout carries only the document; progress goes to stderr.
err_console = Console(stderr=True, highlight=False)


@task(
    name="security-scan",
    auto_shortflags=False,
    iterable=["service", "config_dir"],
    help={
        "service": "service image to scan (repeatable or comma-separated; default all)",
        "tag": "image tag to scan, xorb/<service>:<tag> (default production)",
        "severity": "severities that fail the scan; the lowest listed is the threshold "
        "(default HIGH,CRITICAL)",
        "format": "what stdout gets: table | json (the summary) | sarif (all runs merged)",
        "offline": "no network: reuse the cached vulnerability DB and the embedded checks",
        "ignore_unfixed": "leave out vulnerabilities that have no fixed version yet",
        "skip_vuln": "do not scan for vulnerabilities (reported as skipped, not as clean; "
        "XORB_SKIP_VULN=1 too)",
        "skip_images": "scan only the Dockerfiles and config directories",
        "cache_dir": "trivy cache with the vulnerability DB (default .cache/trivy)",
        "db_repository": "OCI repository to fetch the vulnerability DB from (a mirror)",
        "config_dir": "directory for trivy config + hadolint (repeatable; default docker, compose)",
    },
)
@user_errors
def security_scan(
    c: Context,
    service: list[str] | None = None,
    tag: str = "production",
    severity: str = "HIGH,CRITICAL",  # scan.DEFAULT_SEVERITY
    format: str = "table",
    offline: bool = False,
    ignore_unfixed: bool = False,
    skip_vuln: bool = False,
    skip_images: bool = False,
    cache_dir: str = ".cache/trivy",  # scan.DEFAULT_CACHE
    db_repository: str | None = None,
    config_dir: list[str] | None = None,
) -> None:
    """Scan images and Dockerfiles with trivy and hadolint; fail on findings."""
    if format not in ("table", "json", "sarif"):
        raise XorbError(f"Bad --format {format!r}: choose table, json or sarif.")
    project = services.load()
    out = console if format == "table" else err_console
    opts = scan.Options(
        services=project.select(split_names(service)),
        tag=tag,
        severity=severity,
        offline=offline,
        ignore_unfixed=ignore_unfixed,
        skip_vuln=skip_vuln or os.environ.get("XORB_SKIP_VULN") == "1",
        skip_images=skip_images,
        cache_dir=project.root / cache_dir,
        db_repository=db_repository,
        config_dirs=split_names(config_dir) or scan.CONFIG_DIRS,
        ignore_file=Path(scan.IGNORE_FILE),
        reports=services.reports_dir(project.root) / "security",
    )
    scan.require_engine(opts)
    out.print(f"Scanning with {scan.trivy_version(scan.trivy_path())} ...")
    outcome = scan.run(project, opts)
    if outcome.db is not None:
        out.print(f"Vulnerability database: {outcome.db.detail}")
    if format == "json":
        print(json.dumps(outcome.summary, indent=2))
    elif format == "sarif":
        print(json.dumps(outcome.sarif, indent=2))
    else:
        table(
            f"Security scan (fails at {','.join(outcome.summary['severity_gate'])}; "
            "secrets always; hadolint warning+)",
            ["subject", "scanner", *scan.SEVERITIES, "result"],
            scan.summary_rows(outcome.results),
        )
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in outcome.seconds.items())
    out.print(f"Times: {timings}")
    where = services.shown(opts.reports, project.root)
    out.print(f"Reports: {where}/ ({len(outcome.files)} files)")
    if outcome.failure:
        raise XorbError(outcome.failure)


@task(
    name="size-report",
    auto_shortflags=False,
    iterable=["service", "budget"],
    help={
        "service": "service image to report (repeatable or comma-separated; default all)",
        "tag": "image tag, xorb/<service>:<tag> (default production)",
        "format": "what stdout gets: table | json | markdown",
        "compare": "previous size-report.json to compare with (default reports/size-report.json)",
        "budget": "override a budget: SERVICE=MB (repeatable), e.g. --budget api=10",
        "no_dive": "skip dive's efficiency analysis (faster)",
        "release": "also size this pushed release in --registry: every platform and the "
        "attestations' bytes",
        "registry": "registry of --release (default from pyproject)",
    },
)
@user_errors
def size_report(
    c: Context,
    service: list[str] | None = None,
    tag: str = "production",
    format: str = "table",
    compare: str | None = None,
    budget: list[str] | None = None,
    no_dive: bool = False,
    release: str | None = None,
    registry: str | None = None,
) -> None:
    """Report image sizes, layers and shared bytes; fail when over budget."""
    if format not in ("table", "json", "markdown"):
        raise XorbError(f"Bad --format {format!r}: choose table, json or markdown.")
    project = services.load()
    budgets = sizereport.parse_budgets(split_names(budget), (s.name for s in project.services))
    report = sizereport.build(
        project,
        split_names(service),
        tag=tag,
        budgets=budgets,
        compare=Path(compare) if compare else None,
        with_dive=not no_dive,
        release=(release, registry or project.registry) if release else None,
    )
    paths = sizereport.write(report, services.reports_dir(project.root))
    if format == "json":
        print(json.dumps(sizereport.to_json(report), indent=2))
    elif format == "markdown":
        print(sizereport.markdown(report), end="")
    else:
        _size_tables(report)
    where = ", ".join(services.shown(p, project.root) for p in paths)
    (console if format == "table" else err_console).print(f"Wrote {where}")
    failure = sizereport.budget_failure(report)
    if failure:
        raise XorbError(failure)


def _size_tables(report: sizereport.Report) -> None:
    def mb(n: float | None) -> str:
        return "-" if n is None else f"{n / MB:.1f} MB"

    table(
        "Image sizes (uncompressed = unpacked layers, the budgeted measure; "
        "compressed = registry transfer)",
        [
            "image",
            "uncompressed",
            "compressed",
            "budget",
            "status",
            "shared",
            "dive eff.",
            "wasted",
        ],
        [
            (
                img.ref,
                mb(img.uncompressed_bytes),
                mb(img.compressed_bytes),
                f"{img.budget_mb} MB",
                "OVER BUDGET" if img.over_budget else "ok",
                mb(img.shared_bytes),
                "-" if img.efficiency is None else f"{img.efficiency * 100:.1f}%",
                mb(img.wasted_bytes),
            )
            for img in report.images
        ],
    )
    console.print(
        f"All together on disk: {mb(report.total_on_disk_bytes)} "
        f"(separately {mb(report.total_separate_bytes)}, shared {mb(report.shared_bytes)})"
    )
    table(
        "Change (uncompressed MB)",
        ["service", "now", "previous", "Δ previous", "guide before", "Δ", "guide after", "Δ"],
        [
            (
                d["service"],
                d["uncompressed_mb"],
                d["previous_mb"] if d["previous_mb"] is not None else "-",
                _signed(d["delta_previous_mb"]),
                d["guide_before_mb"] or "-",
                _signed(d["delta_guide_before_mb"]),
                d["guide_after_mb"] or "-",
                _signed(d["delta_guide_after_mb"]),
            )
            for d in sizereport.deltas(report)
        ],
    )
    if report.published:
        table(
            "Published release (registry: compressed = what a node pulls)",
            ["image", "platform", "compressed", "attestations"],
            [
                (p.ref, p.platform, mb(p.compressed_bytes), f"{p.attestation_bytes / 1000:.1f} kB")
                for p in report.published
            ],
        )
    for img in report.images:
        biggest = sorted(img.layers, key=lambda layer: layer.size_bytes, reverse=True)[:5]
        table(
            f"Largest layers of {img.ref}" + (f" ({img.dive_note})" if img.dive_note else ""),
            ["size", "instruction"],
            [(mb(layer.size_bytes), layer.created_by[:110]) for layer in biggest],
        )


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"
