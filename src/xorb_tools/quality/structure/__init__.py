"""The guide's container test suite: ``python test_containers.py`` / ``nox -s structure``.

Eight categories, each a real check against built images and running containers (no mocks):
Docker Environment, Build Test Images, Container Security, Container Startup, Configuration
Integration, Size Analysis, Health Endpoints, Volume Mounts. Each is an independent function
``(Context) -> Result``: an exception inside one becomes a FAIL line of that category and the
others still run, and pytest runs each on its own (``tests/structure``).

:class:`Context` owns what several categories share and starts it lazily: the PostgreSQL,
Redis and Temporal test containers, a secrets directory, and one production container per
service on the test network (Container Startup starts them, Health Endpoints reuses them).
:meth:`Context.close` removes everything, also after a failure.

``--image-tag`` points the checks at another tag of each selected service (e.g. a
deliberately broken image); services that are not selected still run, at their
``production`` tag, as the dependencies of the selected ones.
"""

from __future__ import annotations

from xorb_tools.quality.structure.base import (
    APP_UID,
    APP_USER,
    HARDENING,
    HEADER,
    LOW_CPUS,
    LOW_DISK_BYTES,
    LOW_MEMORY_BYTES,
    MAX_SCANNED_FILE,
    MIN_ENGINE_MAJOR,
    OCI_KEYS,
    READY_TIMEOUT,
    RULE,
    RUN_PREFIX,
    SECRET_FILE_NAMES,
    START_TIMEOUT,
    TARGET_ENVIRONMENT,
    Report,
    Result,
    config_uid,
    engine_major,
    find_secrets,
    parse_budgets,
    probe_results,
    secret_file_reason,
    summary_lines,
)
from xorb_tools.quality.structure.categories import (
    CATEGORIES,
    Category,
    build_test_images,
    category,
    configuration_integration,
    container_security,
    container_startup,
    docker_environment,
    health_endpoints,
    health_urls,
    size_analysis,
    volume_mounts,
)
from xorb_tools.quality.structure.cli import main, options_from, parse_args, run_all
from xorb_tools.quality.structure.context import Context, Options, Run

__all__ = [
    "APP_UID",
    "APP_USER",
    "CATEGORIES",
    "HARDENING",
    "HEADER",
    "LOW_CPUS",
    "LOW_DISK_BYTES",
    "LOW_MEMORY_BYTES",
    "MAX_SCANNED_FILE",
    "MIN_ENGINE_MAJOR",
    "OCI_KEYS",
    "READY_TIMEOUT",
    "RULE",
    "RUN_PREFIX",
    "SECRET_FILE_NAMES",
    "START_TIMEOUT",
    "TARGET_ENVIRONMENT",
    "Category",
    "Context",
    "Options",
    "Report",
    "Result",
    "Run",
    "build_test_images",
    "category",
    "config_uid",
    "configuration_integration",
    "container_security",
    "container_startup",
    "docker_environment",
    "engine_major",
    "find_secrets",
    "health_endpoints",
    "health_urls",
    "main",
    "options_from",
    "parse_args",
    "parse_budgets",
    "probe_results",
    "run_all",
    "secret_file_reason",
    "size_analysis",
    "summary_lines",
    "volume_mounts",
]
