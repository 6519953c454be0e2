"""What the nox sessions provision before they drive the engine."""

from __future__ import annotations

import pytest

from xorb_tools.deploy import stack
from xorb_tools.testing import sessions


def test_tests_alone_need_the_test_infrastructure() -> None:
    assert sessions.infra_for() == sessions.TEST_INFRA


@pytest.mark.parametrize("environment", sorted(stack.INFRA))
def test_a_stack_session_gets_everything_its_stack_runs(environment: str) -> None:
    names = sessions.infra_for(environment)
    assert set(stack.INFRA[environment]) <= set(names)
    assert names[: len(sessions.TEST_INFRA)] == sessions.TEST_INFRA
    assert len(names) == len(set(names))


def test_the_development_stack_needs_prometheus_before_any_production_session() -> None:
    # e2e (development) runs before deploy (production) in `nox`: on a fresh host it must
    # build Prometheus itself, or `inv up` stops naming `inv infra-images`.
    assert "prometheus" in sessions.infra_for("development")
    assert set(sessions.infra_for("development", "production")) == set(
        stack.INFRA["development"]
    ) | set(stack.INFRA["production"])
