"""Request fuzzing: schemathesis generates requests from the API's OpenAPI schema (read
from the deployed image, where production does not serve it) and sends them through nginx
to the production stack: no answer is a 5xx. Bounded: a few examples per operation."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.resilience.platform import Platform
from xorb_tools.testing import resilience

pytestmark = [pytest.mark.resilience, pytest.mark.order(8)]

EXAMPLES = 12
SCHEMA = "import json; from api.app import create_app; print(json.dumps(create_app().openapi()))"


def _schema(platform: Platform) -> dict[str, Any]:
    out = platform.exec("api", ["python3", "-c", SCHEMA])
    schema = json.loads(out.strip().splitlines()[-1])
    assert isinstance(schema, dict)
    return schema


def _short(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
    """Valid job durations become short, so the fuzzed jobs do not hold the workers."""
    body = case.body
    if isinstance(body, dict):
        for key in ("duration", "delay"):
            value = body.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and 1 < value <= 30:
                body[key] = 0.5


def test_fuzzed_requests_never_get_a_5xx(platform: Platform) -> None:
    schema = schemathesis.openapi.from_dict(_schema(platform))
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 7
    statuses: Counter[str] = Counter()
    server_errors: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            _short(case)
            response = case.call(base_url=platform.url, verify=False, timeout=30)
            statuses[str(response.status_code)] += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:200]}"
                )

        check()
    resilience.record(
        "fuzzing",
        resilience.Fault(
            failed_requests=len(server_errors),
            details={
                "operations": len(operations),
                "requests": sum(statuses.values()),
                "statuses": dict(sorted(statuses.items())),
                "server_errors": server_errors[:20],
            },
        ),
    )
    assert server_errors == []
