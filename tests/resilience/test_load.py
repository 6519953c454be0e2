"""Bounded load through nginx on loopback: requests per second, latency percentiles and
errors for ``/health`` and the job-enqueue endpoint, written to the report and compared
with the previous one; then a burst above nginx's rate limit, which must answer 429, never
5xx. Speed is measured and recorded, never asserted."""

from __future__ import annotations

import time

import pytest

from tests.resilience.platform import Platform
from xorb_tools.testing import resilience
from xorb_tools.testing.loadgen import Load, LoadResult

pytestmark = [pytest.mark.resilience, pytest.mark.order(1)]

SECONDS = 10.0
JOB = {"text": "load test words", "duration": 0}
LIMIT_CONN = 50
"""nginx's ``limit_conn`` per client address: a burst above it, or above ``limit_req``
(20/s, burst 40) when the API answers fast, gets 429s whatever the host's speed."""


def _run(load: Load, seconds: float = SECONDS) -> LoadResult:
    with load:
        time.sleep(seconds)
    return load.result()


def _server_errors(result: LoadResult) -> list[str]:
    return [
        f"{s.status} {s.error or ''}" for s in result.samples if s.status == 0 or s.status >= 500
    ]


@pytest.mark.parametrize(
    ("name", "path", "method", "rate"),
    [("health", "/health", "GET", 40.0), ("enqueue", "/jobs", "POST", 15.0)],
)
def test_load_is_served_without_errors(
    platform: Platform, name: str, path: str, method: str, rate: float
) -> None:
    load = Load(
        f"{platform.url}{path}",
        rate=rate,
        concurrency=8,
        method=method,
        json_body=JOB if method == "POST" else None,
        ok_statuses=(202,) if method == "POST" else (200,),
        version_field=None,
    )
    result = _run(load)
    summary = result.summary()
    comparison = resilience.record_load(name, summary)
    print(f"{name}: {summary} vs previous: {comparison}")
    assert result.samples, "no request was sent"
    assert result.failed() == [], summary


def test_a_burst_above_the_rate_limit_gets_429_never_5xx(platform: Platform) -> None:
    load = Load(
        f"{platform.url}/jobs",
        rate=300.0,
        concurrency=LIMIT_CONN + 14,
        method="POST",
        json_body=JOB,
        ok_statuses=(202, 429),
        version_field=None,
    )
    result = _run(load, 3.0)
    summary = result.summary()
    resilience.record_load("burst", summary)
    time.sleep(3)  # nginx's bucket refills (20/s, burst 40) before the next test
    assert _server_errors(result) == [], summary
    assert any(s.status == 429 for s in result.samples), f"no request was limited: {summary}"
    assert any(s.status == 202 for s in result.samples), summary
