"""Root test configuration shared by every suite, on the host and inside images."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable

import pytest

IMAGE_MARKER = "image"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{IMAGE_MARKER}(*services): inside a service image, run only in these services' "
        "images (their packages are not installed elsewhere)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Inside a service image (``XORB_SERVICE`` is set by the image), deselect tests
    marked for other services' images. On the host every test runs."""
    current = os.environ.get("XORB_SERVICE")
    if not current:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker(IMAGE_MARKER)
        (drop if marker is not None and current not in marker.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def _record_where_tests_ran(
    record_testsuite_property: Callable[[str, object], None],
) -> None:
    """Write the interpreter, UID and image into the JUnit report.

    ``nox -s container_tests`` reads these back to prove the tests ran inside the image.
    """
    record_testsuite_property("python_executable", sys.executable)
    record_testsuite_property("uid", os.getuid())
    record_testsuite_property("image", os.environ.get("XORB_IMAGE_REF", "host"))


def free_ports(count: int) -> list[str]:
    """``count`` distinct TCP ports nothing listens on now (never the well-known defaults)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [str(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()
