"""trivy's vulnerability database: present, downloaded (``--download-db-only``) or missing, in
which case the vulnerability scanner is reported as not run and the remedy is named."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xorb_tools.core.services import ROOT

DB_DOWNLOAD_TIMEOUT_S = 300


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
