"""Results, constants and the pure helpers of the container structure suite."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xorb_tools.core.errors import XorbError

HEADER = "🔧 XORB Container Test Suite"
RULE = "=" * 60
APP_USER = "1000:1000"
APP_UID = "1000"
MIN_ENGINE_MAJOR = 26
OCI_KEYS = ("title", "version", "revision", "created", "source")
TARGET_ENVIRONMENT = {"production": "production", "testing": "test", "development": "development"}
LOW_CPUS = 2
LOW_MEMORY_BYTES = 4 * 1024**3
LOW_DISK_BYTES = 10 * 1024**3
MAX_SCANNED_FILE = 5 * 1024 * 1024
START_TIMEOUT = 120.0
READY_TIMEOUT = 30.0
RUN_PREFIX = "xorb-structure"
HARDENING: dict[str, Any] = {
    "read_only": True,
    "tmpfs": ["/tmp"],  # noqa: S108 - the container's own /tmp
    "cap_drop": ["ALL"],
    "security_options": ["no-new-privileges:true"],
}

# ----------------------------------------------------------------------------- results


@dataclass
class Result:
    """One category's outcome: its name, whether it passed and its detail lines."""

    name: str
    passed: bool
    lines: list[str] = field(default_factory=list)


class Report:
    """Collects a category's detail lines (and echoes them as they come, on the CLI)."""

    def __init__(self, name: str, echo: Callable[[str], None] | None) -> None:
        self.name = name
        self.lines: list[str] = []
        self.failed = False
        self._echo = echo

    def _add(self, line: str) -> None:
        self.lines.append(line)
        if self._echo:
            self._echo(line)

    def info(self, message: str) -> None:
        self._add(f"  {message}")

    def ok(self, message: str) -> None:
        self._add(f"  ✅ {message}")

    def warn(self, message: str) -> None:
        self._add(f"  ⚠️  {message}")

    def fail(self, message: str) -> None:
        self.failed = True
        self._add(f"  ❌ {message}")

    def check(self, passed: bool, good: str, bad: str) -> bool:
        """Record ``good`` when ``passed`` else ``bad`` (as a failure); returns ``passed``."""
        (self.ok if passed else self.fail)(good if passed else bad)
        return passed

    def result(self) -> Result:
        return Result(self.name, not self.failed, list(self.lines))


# ----------------------------------------------------------------------------- pure helpers

_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private key",
        re.compile(
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
            r"\s*[A-Za-z0-9+/=]{40}"
        ),
    ),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "AWS secret access key",
        re.compile(r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{40}"),
    ),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[\w-]{10,}")),
    (
        "credential assignment",
        re.compile(
            r"(?i)\b[\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key)"
            r"\s*[=:]\s*['\"]?(?P<value>[^\s'\"$`{}<>;,]{4,})"
        ),
    ),
)
# Values of a "credential assignment" that are references, not secrets.
_HARMLESS_VALUES = re.compile(
    r"(?i)^(?:/run/secrets/.*|/|true|false|none|null|changeme|placeholder|example|xxx+|\*+)$"
)
SECRET_FILE_NAMES = frozenset(
    {
        "postgres_password",
        "jwt_secret",
        "redis_password",
        "vault_token",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        ".netrc",
        ".pypirc",
        ".git-credentials",
        ".dockercfg",
    }
)


def find_secrets(text: str) -> list[str]:
    """The kinds of secret-looking values in ``text`` (names only, never the values)."""
    found: list[str] = []
    for kind, pattern in _SECRET_PATTERNS:
        for match in pattern.finditer(text):
            value = match.groupdict().get("value")
            if value is not None and _HARMLESS_VALUES.match(value):
                continue
            if kind not in found:
                found.append(kind)
            break
    return found


def secret_file_reason(path: str) -> str | None:
    """Why a file at ``path`` (inside an image layer) is a secret file, or ``None``."""
    clean = path.lstrip("./")
    parts = clean.split("/")
    name = parts[-1]
    if name.startswith(".wh."):  # a whiteout: the deletion marker, not the file
        return None
    if clean.startswith("run/secrets/") and len(parts) > 2:
        return "a file under /run/secrets"
    if name in SECRET_FILE_NAMES:
        return f"a known secret file name ({name})"
    if name == "credentials" and len(parts) > 1 and parts[-2] == ".aws":
        return "AWS credentials"
    return None


def parse_budgets(values: Iterable[str]) -> dict[str, int]:
    """``["api=10", ...]`` -> ``{"api": 10}``; fail in one sentence on a malformed one."""
    budgets: dict[str, int] = {}
    for raw in values:
        name, sep, number = raw.partition("=")
        if not sep or not name or not number.isdigit() or int(number) <= 0:
            raise XorbError(f"Bad --budget {raw!r}: write SERVICE=MB, e.g. api=230.")
        budgets[name] = int(number)
    return budgets


def engine_major(version: str) -> int:
    """``"26.1.5+dfsg1"`` -> 26 (0 when it does not start with a number)."""
    match = re.match(r"\s*(\d+)", version)
    return int(match.group(1)) if match else 0


def config_uid(user: str | None) -> str:
    """The UID part of an image's ``User`` (``""`` means root)."""
    return (user or "").split(":", 1)[0] or "0"


def summary_lines(results: Sequence[Result]) -> list[str]:
    """The guide's results block and summary."""
    passed = sum(r.passed for r in results)
    lines = ["📊 Test Results:"]
    lines += [f"  {'✅ PASS' if r.passed else '❌ FAIL'} - {r.name}" for r in results]
    lines += ["", f"🎯 Summary: {passed}/{len(results)} tests passed"]
    if results and passed == len(results):
        lines.append("🎉 All container tests passed!")
    else:
        failed = ", ".join(r.name for r in results if not r.passed)
        lines.append(f"💥 Failed: {failed}")
    return lines


def probe_results(output: str) -> dict[str, int]:
    """``"name rc"`` lines printed by the in-container probe scripts -> ``{name: rc}``."""
    found: dict[str, int] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            found[parts[0]] = int(parts[1])
    return found


def _short(image_id: str) -> str:
    algo, _, digest = image_id.partition(":")
    return f"{algo}:{digest[:12]}" if digest else image_id[:19]
