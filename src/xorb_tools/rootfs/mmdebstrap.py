"""mmdebstrap, the tool every rootfs here is made with: found, or installed with apt-get
(root, Debian) when missing. Both the base image and the infrastructure images use it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from xorb_tools.core.errors import XorbError

# Never unpacked into any rootfs: documentation (licences kept), manuals, translations.
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)


def ensure() -> str:
    """Path of mmdebstrap; installs it with apt-get (root, Debian) when it is missing."""
    path = shutil.which("mmdebstrap")
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise XorbError(
            "mmdebstrap is not installed: run `apt-get install mmdebstrap` as root (Debian/Ubuntu)."
        )
    print("rootfs: mmdebstrap is missing: installing it with apt-get", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "mmdebstrap"]
    proc = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        proc = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    path = shutil.which("mmdebstrap")
    if proc.returncode != 0 or not path:
        raise XorbError(f"Installing mmdebstrap with apt-get failed:\n{_tail(proc.stderr)}")
    return path


def _tail(text: str, lines: int = 10) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
