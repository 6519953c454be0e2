"""BuildKit SBOM generator protocol (moby/buildkit docs/attestations/sbom-protocol.md):
scan ``$BUILDKIT_SCAN_SOURCE`` (and every root filesystem under
``$BUILDKIT_SCAN_SOURCE_EXTRAS``, when set) with trivy, offline, and write one in-toto
statement with an SPDX predicate per target to
``$BUILDKIT_SCAN_DESTINATION/trivy-<name>.spdx.json``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

STATEMENT = "https://in-toto.io/Statement/v0.1"
SPDX = "https://spdx.dev/Document"


def targets() -> list[Path]:
    found = [Path(os.environ["BUILDKIT_SCAN_SOURCE"])]
    extras = Path(os.environ.get("BUILDKIT_SCAN_SOURCE_EXTRAS") or "/nonexistent")
    if extras.is_dir():
        found += sorted(p for p in extras.iterdir() if p.is_dir())
    return found


def scan(target: Path) -> Any:
    argv = [
        "trivy",
        "rootfs",
        "--quiet",
        "--format",
        "spdx-json",
        "--cache-dir",
        "/tmp/trivy",  # noqa: S108 - the tmpfs BuildKit mounts for the generator
        "--skip-db-update",
        "--skip-java-db-update",
        "--offline-scan",
        str(target),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"trivy could not scan {target}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def main() -> None:
    out = Path(os.environ["BUILDKIT_SCAN_DESTINATION"])
    for target in targets():
        statement = {
            "_type": STATEMENT,
            "predicateType": SPDX,
            "subject": [],
            "predicate": scan(target),
        }
        # Not "<name>.spdx.json", which the protocol suggests: for that file BuildKit before
        # 0.18 (Docker 26's) adds each file's layer to the SBOM and never releases the
        # layers it read, so a builder prune can no longer empty the cache
        # (moby/buildkit#5498). Any name is a valid scan; only that enrichment is lost.
        (out / f"trivy-{target.name}.spdx.json").write_text(json.dumps(statement))


if __name__ == "__main__":
    main()
