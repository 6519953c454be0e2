"""Accepted findings: trivy's own ``.trivyignore.yaml``, held to this repository's rules (a
``statement`` and an ``expired_at`` date on every entry; an expired one fails the scan)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xorb_tools.core.errors import XorbError

IGNORE_FILE = ".trivyignore.yaml"
IGNORE_SECTIONS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")


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
