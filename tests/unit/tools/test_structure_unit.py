"""The pure parts of the container test suite: secret patterns, summary, arguments."""

from __future__ import annotations

import pytest

from xorb_tools.core.errors import XorbError
from xorb_tools.quality import structure

FAKE_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" * 2


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"-----BEGIN PRIVATE KEY-----\n{FAKE_KEY_BODY}\n", "private key"),
        (f"-----BEGIN RSA PRIVATE KEY-----\n{FAKE_KEY_BODY}", "private key"),
        (f"-----BEGIN OPENSSH PRIVATE KEY-----\r\n{FAKE_KEY_BODY}", "private key"),
        ("ENV AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS secret access key",
        ),
        ("GITHUB_TOKEN=ghp_" + "a1B2" * 9, "GitHub token"),
        ("|1 DB_PASSWORD=hunter2hunter2 /bin/sh -c make", "credential assignment"),
        ("RUN curl -H 'token: abcd1234efgh' https://x", "credential assignment"),
        ("API_KEY=0123456789abcdef", "credential assignment"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            "JSON web token",
        ),
    ],
)
def test_secret_looking_values_are_found(text: str, kind: str) -> None:
    assert kind in structure.find_secrets(text)


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN PRIVATE KEY-----",  # a format marker with no key material
        "-----BEGIN CERTIFICATE-----\n" + FAKE_KEY_BODY,
        "RUN --mount=type=secret,id=ca if [ -s /run/secrets/ca ]; then PIP_CERT=/run/secrets/ca",
        "ENV POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password",
        "JWT_SECRET=${JWT_SECRET}",
        "PASSWORD=$PASSWORD",
        "ENV XORB_ENV=production XORB_HEALTH_PATH=/health",
        "secret_key = changeme",
        "HEALTHCHECK CMD python3 -m common.healthcheck",
    ],
)
def test_references_and_markers_are_not_secrets(text: str) -> None:
    assert structure.find_secrets(text) == []


def test_findings_name_the_kind_never_the_value() -> None:
    found = structure.find_secrets("DB_PASSWORD=hunter2hunter2")
    assert found == ["credential assignment"]
    assert all("hunter2" not in f for f in found)


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        ("run/secrets/postgres_password", True),
        ("./run/secrets/anything", True),
        ("home/xorb/.ssh/id_ed25519", True),
        ("root/.aws/credentials", True),
        ("app/jwt_secret", True),
        ("root/.netrc", True),
        ("run/secrets", False),
        ("run/secrets/.wh.postgres_password", False),  # a whiteout (deletion marker)
        ("usr/local/lib/python3.11/secrets.py", False),
        ("opt/venv/lib/python3.11/site-packages/botocore/credentials.py", False),
        ("etc/ssl/certs/ca-certificates.crt", False),
    ],
)
def test_secret_file_names(path: str, secret: bool) -> None:
    assert (structure.secret_file_reason(path) is not None) is secret


def test_summary_when_all_pass() -> None:
    results = [structure.Result(c.name, True) for c in structure.CATEGORIES]
    lines = structure.summary_lines(results)
    assert lines[0] == "📊 Test Results:"
    assert lines[1] == "  ✅ PASS - Docker Environment"
    assert lines[-2:] == ["🎯 Summary: 8/8 tests passed", "🎉 All container tests passed!"]


def test_summary_names_the_failures() -> None:
    results = [structure.Result(c.name, c.name != "Size Analysis") for c in structure.CATEGORIES]
    lines = structure.summary_lines(results)
    assert "  ❌ FAIL - Size Analysis" in lines
    assert "🎯 Summary: 7/8 tests passed" in lines
    assert not any("All container tests passed" in line for line in lines)


def test_the_eight_categories_in_the_guides_order() -> None:
    assert [c.name for c in structure.CATEGORIES] == [
        "Docker Environment",
        "Build Test Images",
        "Container Security",
        "Container Startup",
        "Configuration Integration",
        "Size Analysis",
        "Health Endpoints",
        "Volume Mounts",
    ]


def test_report_collects_lines_and_failure() -> None:
    seen: list[str] = []
    report = structure.Report("X", seen.append)
    assert report.check(True, "good", "bad")
    report.warn("low disk")
    assert report.result().passed
    report.fail("broken")
    result = report.result()
    assert not result.passed
    assert result.lines == seen == ["  ✅ good", "  ⚠️  low disk", "  ❌ broken"]


def test_arguments_default_to_every_service_production_and_build() -> None:
    options = structure.options_from(structure.parse_args([]))
    assert options == structure.Options()
    assert options.image_tag == "production" and not options.skip_build


def test_arguments_repeat_and_override() -> None:
    args = structure.parse_args(
        [
            "--service",
            "api",
            "--service",
            "worker",
            "--image-tag",
            "structure-root",
            "--budget",
            "api=10",
            "--budget",
            "worker=150",
            "--skip-build",
        ]
    )
    options = structure.options_from(args)
    assert options.services == ("api", "worker")
    assert options.image_tag == "structure-root"
    assert options.budgets == {"api": 10, "worker": 150}
    assert options.skip_build


@pytest.mark.parametrize("raw", ["api", "api=", "=10", "api=ten", "api=0", "api=-5"])
def test_bad_budgets_fail_in_one_sentence(raw: str) -> None:
    with pytest.raises(XorbError, match="write SERVICE=MB"):
        structure.parse_budgets([raw])


@pytest.mark.parametrize(
    ("version", "major"), [("26.1.5+dfsg1", 26), ("27.0.0", 27), ("24.0.7", 24), ("dev", 0)]
)
def test_engine_major(version: str, major: int) -> None:
    assert structure.engine_major(version) == major


@pytest.mark.parametrize(
    ("user", "uid"), [("1000:1000", "1000"), ("1000", "1000"), ("0:0", "0"), ("", "0"), (None, "0")]
)
def test_config_uid(user: str | None, uid: str) -> None:
    assert structure.config_uid(user) == uid


def test_probe_results_ignore_noise() -> None:
    out = "ro_read 0\nsome noise here\nro_write 1\nhttp://api:8000/health 200\nbad x\n"
    assert structure.probe_results(out) == {
        "ro_read": 0,
        "ro_write": 1,
        "http://api:8000/health": 200,
    }
