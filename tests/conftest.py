"""Root test configuration shared by every suite, on the host and inside images."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import pytest


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
