"""No secret value appears in any log line the integration run captured. Runs last
(``order(-1)``), so it reads every other test's logs too; alone, the session's services'."""

from __future__ import annotations

import pytest

from .conftest import LOG_DIR, Infra

pytestmark = [pytest.mark.integration, pytest.mark.order(-1)]


def test_no_secret_in_any_log_line(infra: Infra) -> None:
    files = sorted(LOG_DIR.glob("*.log"))
    assert files, "the integration run captured no logs"
    lines = 0
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            lines += 1
            for secret in infra.secrets:
                assert secret not in line, f"secret found in {path.name}"
    assert lines > 0
