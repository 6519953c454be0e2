"""The pure parts of ``inv security-scan``: the ignore file, the severity gate, and reading
trivy's and hadolint's output (samples recorded from trivy 0.59.1 / hadolint 2.15 here:
tests/fixtures/scanner-output/)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from xorb_tools.core.errors import XorbError
from xorb_tools.quality import scan

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "scanner-output"
TODAY = dt.date(2026, 1, 15)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


# ----------------------------------------------------------------------------- ignore file

GOOD = """
vulnerabilities:
  - id: CVE-2024-0001
    statement: Not reachable, the vulnerable parser is never called.
    expired_at: 2026-06-30
misconfigurations:
  - id: AVD-DS-0026
    paths: [docker/Dockerfile]
    statement: The health check is in the compose file.
    expired_at: 2026-03-01
"""


def test_ignore_file_parses_sections_ids_statements_and_dates() -> None:
    entries = scan.parse_ignore(GOOD)
    assert [(e.section, e.id) for e in entries] == [
        ("vulnerabilities", "CVE-2024-0001"),
        ("misconfigurations", "AVD-DS-0026"),
    ]
    assert entries[0].expires == dt.date(2026, 6, 30)
    assert entries[1].reason == "The health check is in the compose file."


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("secrets:\n  - statement: r\n    expired_at: 2026-01-01\n", "no `id`"),
        ("secrets:\n  - id: aws-access-key-id\n    expired_at: 2026-01-01\n", "no `statement`"),
        ("licenses:\n  - id: GPL-3.0\n    statement: r\n", "no `expired_at`"),
        ("licenses:\n  - id: GPL-3.0\n    statement: r\n    expired_at: soon\n", "no `expired_at`"),
        ("vulnerabilities: CVE-1\n", "must be a list"),
        ("ignore:\n  - id: CVE-1\n", "unknown section(s) ignore"),
        ("vulnerabilities: [\n", "not valid YAML"),
    ],
)
def test_malformed_ignore_entries_fail_in_one_sentence(text: str, needle: str) -> None:
    with pytest.raises(XorbError, match=re.escape(needle)):
        scan.parse_ignore(text)


def test_expired_entries_fail_naming_each_one() -> None:
    entries = scan.parse_ignore(GOOD)
    assert scan.live_entries(entries, TODAY) == entries
    with pytest.raises(XorbError, match=r"AVD-DS-0026 \(expired 2026-03-01\)") as err:
        scan.live_entries(entries, dt.date(2026, 3, 2))
    assert "CVE-2024-0001" not in str(err.value)
    # the expiry day itself is still live
    assert scan.live_entries(entries, dt.date(2026, 3, 1)) == entries


def test_missing_ignore_file_means_no_entries(tmp_path: Path) -> None:
    assert scan.load_ignore(tmp_path / "absent.yaml") == []


def test_the_repository_ignore_file_is_valid_and_live() -> None:
    path = Path(__file__).resolve().parents[3] / scan.IGNORE_FILE
    assert path.is_file()
    scan.live_entries(scan.load_ignore(path), dt.date.today())


# ----------------------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("HIGH,CRITICAL", {"HIGH", "CRITICAL"}),
        ("critical", {"CRITICAL"}),
        ("MEDIUM", {"MEDIUM", "HIGH", "CRITICAL"}),
        ("CRITICAL, LOW", {"LOW", "MEDIUM", "HIGH", "CRITICAL"}),
    ],
)
def test_severity_lowest_listed_is_the_threshold(value: str, expected: set[str]) -> None:
    assert scan.parse_severity(value) == expected


@pytest.mark.parametrize("value", ["", "SEVERE", "HIGH,,BAD"])
def test_bad_severity_fails(value: str) -> None:
    with pytest.raises(XorbError, match="Bad --severity"):
        scan.parse_severity(value)


def finding(sev: str, ident: str = "X") -> scan.Finding:
    return scan.Finding(ident, sev, "somewhere")


def test_gates_per_scanner() -> None:
    gate = scan.parse_severity("HIGH")
    mixed = [finding(s) for s in scan.SEVERITIES]
    assert {f.severity for f in scan.blocking("vuln", mixed, gate)} == {"CRITICAL", "HIGH"}
    assert {f.severity for f in scan.blocking("misconfig", mixed, gate)} == {"CRITICAL", "HIGH"}
    # every secret fails, whatever its severity
    assert len(scan.blocking("secret", [finding("LOW")], gate)) == 1
    # licenses: only forbidden (CRITICAL); Debian's GPL (restricted, HIGH) passes
    assert [f.severity for f in scan.blocking("license", mixed, gate)] == ["CRITICAL"]
    # hadolint: error and warning
    assert {f.severity for f in scan.blocking("hadolint", mixed, gate)} == {"HIGH", "MEDIUM"}


# ----------------------------------------------------------------------------- summarising


def test_image_report_with_planted_secrets_is_read() -> None:
    found = scan.trivy_findings(sample("trivy-image-planted.json"))
    secrets = {(f.id, f.where.split(":")[0]) for f in found["secret"]}
    assert secrets == {
        ("aws-access-key-id", "/app/config/aws-credentials"),
        ("private-key", "/app/config/deploy-key.pem"),
    }
    assert found["vuln"] == [] and found["misconfig"] == []
    assert {f.severity for f in found["license"]} >= {"HIGH", "LOW"}
    gate = scan.parse_severity("HIGH,CRITICAL")
    assert len(scan.blocking("secret", found["secret"], gate)) == 2
    assert scan.blocking("license", found["license"], gate) == []


def test_config_report_names_the_root_user_check_and_line() -> None:
    found = scan.trivy_findings(sample("trivy-config-root.json"))["misconfig"]
    ds002 = [f for f in found if f.id == "AVD-DS-0002"]
    assert ds002 and ds002[0].severity == "HIGH" and ds002[0].where == "root.dockerfile:5"


def test_passing_misconfigurations_are_not_findings() -> None:
    report = {
        "Results": [
            {
                "Target": "Dockerfile",
                "Misconfigurations": [
                    {"AVDID": "AVD-DS-0002", "Severity": "HIGH", "Status": "PASS"},
                    {"AVDID": "AVD-DS-0026", "Severity": "LOW", "Status": "FAIL"},
                ],
            }
        ]
    }
    assert [f.id for f in scan.trivy_findings(report)["misconfig"]] == ["AVD-DS-0026"]


def test_vulnerabilities_are_read() -> None:
    # Synthetic: no vulnerability database here to record a real one.
    report = {
        "Results": [
            {
                "Target": "x (debian 12)",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-2099-0001",
                        "PkgName": "libfoo",
                        "InstalledVersion": "1.0",
                        "Severity": "CRITICAL",
                    },
                    {"VulnerabilityID": "CVE-2099-0002", "PkgName": "libbar", "Severity": "?"},
                ],
            }
        ]
    }
    vulns = scan.trivy_findings(report)["vuln"]
    assert [(v.id, v.severity, v.where) for v in vulns] == [
        ("CVE-2099-0001", "CRITICAL", "libfoo 1.0"),
        ("CVE-2099-0002", "UNKNOWN", "libbar"),
    ]


def test_hadolint_output_is_mapped_onto_trivy_scale() -> None:
    found = scan.hadolint_findings(sample("hadolint-root.json"))
    by_code = {f.id: f for f in found}
    assert by_code["DL3002"].severity == "MEDIUM"  # warning
    assert by_code["DL3002"].where.endswith("root.dockerfile:5")
    assert [f.id for f in scan.blocking("hadolint", found, frozenset())] == ["DL3002"]


def test_not_run_is_never_clean_and_fails_with_the_remedy() -> None:
    remedy = scan.no_db_remedy(Path(".cache/trivy"))
    results = [
        scan.ScannerResult("api", "vuln", "not run", note=remedy),
        scan.ScannerResult("worker", "vuln", "not run", note=remedy),
        scan.ScannerResult("api", "secret"),
    ]
    rows = scan.summary_rows(results)
    assert rows[0][2:] == ["-", "-", "-", "-", "-", "NOT RUN"]
    assert rows[2][-1] == "ok"
    message = scan.failure_message(results)
    assert message is not None
    assert message.count("--download-db-only") == 1  # the remedy once, both images named
    assert "vuln scanner NOT RUN on api, worker" in message
    summary = scan.summary_json(results, {})
    assert summary["passed"] is False and summary["results"][0]["counts"] is None


def test_skipped_vuln_scan_passes_but_says_skipped() -> None:
    results = [scan.ScannerResult("api", "vuln", "skipped", note="--skip-vuln")]
    assert scan.failure_message(results) is None
    assert scan.summary_rows(results)[0][-1] == "skipped"


def test_failure_message_names_the_file_and_caps_length() -> None:
    f = scan.Finding("private-key", "HIGH", "/app/config/deploy-key.pem:1")
    results = [scan.ScannerResult(f"s{i}", "secret", findings=[f], blocking=[f]) for i in range(12)]
    message = scan.failure_message(results, limit=3)
    assert message is not None
    assert "s0: secret private-key (HIGH) in /app/config/deploy-key.pem:1" in message
    assert message.endswith("and 9 more")


def test_sarif_runs_are_merged() -> None:
    merged = scan.merge_sarif([{"runs": [{"tool": "a"}]}, {"runs": [{"tool": "b"}]}, {}])
    assert merged["version"] == "2.1.0"
    assert [r["tool"] for r in merged["runs"]] == ["a", "b"]


def test_dockerfile_discovery_includes_fixture_style_names(tmp_path: Path) -> None:
    for name in ("Dockerfile", "Dockerfile.dev", "root.dockerfile", "Containerfile", "x.py"):
        (tmp_path / name).write_text("FROM scratch\n")
    names = [p.name for p in scan.dockerfiles(tmp_path)]
    assert names == ["Containerfile", "Dockerfile", "Dockerfile.dev", "root.dockerfile"]


def test_db_metadata_needs_both_files(tmp_path: Path) -> None:
    assert scan.db_metadata(tmp_path) is None
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "trivy.db").write_bytes(b"")
    assert scan.db_metadata(tmp_path) is None
    (tmp_path / "db" / "metadata.json").write_text('{"UpdatedAt": "2026-01-01T00:00:00Z"}')
    assert scan.db_metadata(tmp_path) == {"UpdatedAt": "2026-01-01T00:00:00Z"}


def test_offline_without_a_database_is_not_available(tmp_path: Path) -> None:
    db = scan.prepare_db("/nonexistent/trivy", tmp_path, offline=True, db_repository=None)
    assert not db.available and "--download-db-only" in db.detail
