"""The pure half of the scan: the severity gate, trivy's and hadolint's findings, what blocks,
the one-sentence failure, the summary table and JSON, one merged SARIF log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from xorb_tools.core.errors import XorbError

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
DEFAULT_SEVERITY = "HIGH,CRITICAL"
IMAGE_SCANNERS = ("vuln", "secret", "misconfig", "license")
# hadolint levels on trivy's scale (for one summary table); warning+ fails, as in
# .hadolint.yaml's failure-threshold.
HADOLINT_LEVELS = {"error": "HIGH", "warning": "MEDIUM", "info": "LOW", "style": "UNKNOWN"}
HADOLINT_FAILING = frozenset({"error", "warning"})
Status = Literal["ran", "not run", "skipped"]


def parse_severity(value: str) -> frozenset[str]:
    """``"HIGH,CRITICAL"`` -> the severities that fail the scan. The lowest one listed is the
    threshold: ``"MEDIUM"`` means MEDIUM, HIGH and CRITICAL."""
    names = [v.strip().upper() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in SEVERITIES]
    if not names or unknown:
        raise XorbError(
            f"Bad --severity {value!r}: use a comma-separated list of {', '.join(SEVERITIES)}."
        )
    lowest = max(SEVERITIES.index(n) for n in names)
    return frozenset(SEVERITIES[: lowest + 1])


@dataclass(frozen=True)
class Finding:
    """One finding, on trivy's severity scale."""

    id: str
    severity: str
    where: str  # file (and line), or package
    title: str = ""


@dataclass
class ScannerResult:
    """One scanner's outcome on one subject (an image, or a config directory)."""

    subject: str
    scanner: str
    status: Status = "ran"
    findings: list[Finding] = field(default_factory=list)
    note: str = ""
    blocking: list[Finding] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c = Counter(f.severity for f in self.findings)
        return {s: c.get(s, 0) for s in SEVERITIES}

    @property
    def failed(self) -> bool:
        return bool(self.blocking) or self.status == "not run"


def _sev(raw: object) -> str:
    sev = str(raw or "UNKNOWN").upper()
    return sev if sev in SEVERITIES else "UNKNOWN"


def trivy_findings(report: Mapping[str, Any]) -> dict[str, list[Finding]]:
    """A trivy JSON report -> findings per scanner (vuln, secret, misconfig, license).

    Misconfigurations count only when they failed; passing checks are not findings."""
    out: dict[str, list[Finding]] = {s: [] for s in IMAGE_SCANNERS}
    for result in report.get("Results") or []:
        target = str(result.get("Target", ""))
        for v in result.get("Vulnerabilities") or []:
            where = f"{v.get('PkgName', '?')} {v.get('InstalledVersion', '')}".strip()
            out["vuln"].append(
                Finding(
                    str(v.get("VulnerabilityID")),
                    _sev(v.get("Severity")),
                    where,
                    str(v.get("Title", "")),
                )
            )
        for s in result.get("Secrets") or []:
            line = s.get("StartLine")
            where = f"{target}:{line}" if line else target
            out["secret"].append(
                Finding(str(s.get("RuleID")), _sev(s.get("Severity")), where, str(s.get("Title")))
            )
        for m in result.get("Misconfigurations") or []:
            if str(m.get("Status", "FAIL")) != "FAIL":
                continue
            line = (m.get("CauseMetadata") or {}).get("StartLine")
            where = f"{target}:{line}" if line else target
            ident = str(m.get("AVDID") or m.get("ID"))
            out["misconfig"].append(
                Finding(ident, _sev(m.get("Severity")), where, str(m.get("Title", "")))
            )
        for lic in result.get("Licenses") or []:
            where = str(lic.get("PkgName") or lic.get("FilePath") or target)
            out["license"].append(
                Finding(
                    str(lic.get("Name")),
                    _sev(lic.get("Severity")),
                    where,
                    str(lic.get("Category", "")),
                )
            )
    return out


def hadolint_findings(items: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """hadolint's ``-f json`` list -> findings (level mapped onto trivy's scale)."""
    return [
        Finding(
            str(i.get("code")),
            HADOLINT_LEVELS.get(str(i.get("level")), "UNKNOWN"),
            f"{i.get('file')}:{i.get('line')}",
            f"{i.get('level')}: {i.get('message')}",
        )
        for i in items
    ]


def blocking(scanner: str, findings: Sequence[Finding], gate: frozenset[str]) -> list[Finding]:
    """The findings that fail the scan (see the module docstring for the rules)."""
    if scanner == "secret":
        return list(findings)
    if scanner == "license":
        return [f for f in findings if f.severity == "CRITICAL"]
    if scanner == "hadolint":
        return [f for f in findings if f.severity in {"HIGH", "MEDIUM"}]
    return [f for f in findings if f.severity in gate]


def failure_message(results: Sequence[ScannerResult], limit: int = 8) -> str | None:
    """One sentence naming what failed, or None when the scan passed."""
    parts: list[str] = []
    not_run: dict[tuple[str, str], list[str]] = {}
    for r in results:
        if r.status == "not run":
            not_run.setdefault((r.scanner, r.note), []).append(r.subject)
    for (scanner, note), subjects in not_run.items():
        parts.append(f"{scanner} scanner NOT RUN on {', '.join(subjects)}: {note}")
    for r in results:
        for f in r.blocking:
            parts.append(f"{r.subject}: {r.scanner} {f.id} ({f.severity}) in {f.where}")
    if not parts:
        return None
    more = f"; and {len(parts) - limit} more" if len(parts) > limit else ""
    return "Security scan failed: " + "; ".join(parts[:limit]) + more


def summary_rows(results: Sequence[ScannerResult]) -> list[list[str]]:
    """Rows for the summary table: subject, scanner, status, counts, verdict."""
    rows = []
    for r in results:
        counts = r.counts()
        shown = [str(counts[s]) if r.status == "ran" else "-" for s in SEVERITIES]
        verdict = (
            "NOT RUN"
            if r.status == "not run"
            else "skipped"
            if r.status == "skipped"
            else f"FAIL ({len(r.blocking)})"
            if r.blocking
            else f"ok ({r.note})"
            if r.note
            else "ok"
        )
        rows.append([r.subject, r.scanner, *shown, verdict])
    return rows


def summary_json(results: Sequence[ScannerResult], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The machine-readable summary (``reports/security/summary.json``)."""
    return {
        **meta,
        "passed": failure_message(results) is None,
        "results": [
            {
                "subject": r.subject,
                "scanner": r.scanner,
                "status": r.status,
                "note": r.note,
                "counts": r.counts() if r.status == "ran" else None,
                "blocking": [f.__dict__ for f in r.blocking],
            }
            for r in results
        ],
    }


def merge_sarif(logs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One SARIF log holding every tool's runs (what code-scanning uploads take)."""
    runs: list[Any] = []
    for log in logs:
        runs += list(log.get("runs") or [])
    return {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": runs,
    }
