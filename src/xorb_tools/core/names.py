"""What a checkout calls the things it makes on the engine and on disk: compose projects
and the env files compose reads for them. One place, so ``inv clean`` removes exactly what
``inv up`` made. Every name starts with the checkout's namespace (``XORB_PROJECT``, see
:data:`xorb_tools.core.services.PROJECT_VAR`); a test suite sets its own stack prefix
(``XORB_PROJECT_PREFIX``, e.g. ``<namespace>-bgt``) and it reaches every name."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from xorb_tools.core import services

PROJECT_PREFIX_VAR = "XORB_PROJECT_PREFIX"
"""Compose project prefix (default: the namespace): tests run their own stacks beside the
real one."""
ENV_DIR = Path(tempfile.gettempdir()) / f"xorb-compose-{os.getuid()}"
"""Where the env files compose reads are written (private to the user)."""


def project_name(environment: str) -> str:
    """The compose project of ``environment`` (``inv clean`` removes containers labelled
    with it)."""
    return f"{os.environ.get(PROJECT_PREFIX_VAR) or namespace()}-{environment}"


def namespace() -> str:
    """The checkout's namespace (``XORB_PROJECT``, default ``xorb``)."""
    return services.load().namespace


def suite_prefix(suite: str) -> str:
    """A test suite's stack prefix inside the namespace, e.g. ``xorb-bgt``."""
    return f"{namespace()}-{suite}"


def env_files(project: str, env_dir: Path = ENV_DIR) -> list[Path]:
    """The env files written for compose project ``project`` (one per set of variables)."""
    name = re.compile(rf"{re.escape(project)}-[0-9a-f]{{12}}\.env")
    return sorted(p for p in env_dir.glob(f"{project}-*.env") if name.fullmatch(p.name))
