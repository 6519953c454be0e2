"""Unit tests of the automation read the service table in its default namespace.

A checkout's namespace (``XORB_PROJECT``) renames every image and stack; the expected values
written in these tests are the defaults, and ``test_namespace.py`` checks the renaming."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xorb_tools.core import services


@pytest.fixture(autouse=True)
def default_namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The table as a checkout without ``XORB_PROJECT`` reads it."""
    monkeypatch.delenv(services.PROJECT_VAR, raising=False)
    services.load.cache_clear()
    yield
    services.load.cache_clear()
