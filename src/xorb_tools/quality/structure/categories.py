"""The eight categories, in the guide's order (:data:`CATEGORIES`): setup (1-2,
:mod:`~.cat_setup`), security (3, :mod:`~.cat_security`), runtime (4-8, :mod:`~.cat_runtime`).
"""

from __future__ import annotations

from xorb_tools.quality.structure.cat_runtime import (
    configuration_integration,
    container_startup,
    health_endpoints,
    health_urls,
    size_analysis,
    volume_mounts,
)
from xorb_tools.quality.structure.cat_security import container_security
from xorb_tools.quality.structure.cat_setup import build_test_images, docker_environment
from xorb_tools.quality.structure.registry import Category, category

CATEGORIES: list[Category] = [
    docker_environment,
    build_test_images,
    container_security,
    container_startup,
    configuration_integration,
    size_analysis,
    health_endpoints,
    volume_mounts,
]
"""The suite, in the guide's order."""

__all__ = [
    "CATEGORIES",
    "Category",
    "build_test_images",
    "category",
    "configuration_integration",
    "container_security",
    "container_startup",
    "docker_environment",
    "health_endpoints",
    "health_urls",
    "size_analysis",
    "volume_mounts",
]
