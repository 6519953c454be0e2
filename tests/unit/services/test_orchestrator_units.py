from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from common.config_manager import build_config
from orchestrator.activities import Activities
from orchestrator.breaker import CircuitBreaker, CircuitOpenError


async def _boom() -> None:
    raise httpx.ConnectError("down")


async def _fine() -> str:
    return "ok"


def test_breaker_state_transitions() -> None:
    async def scenario() -> list[str]:
        breaker = CircuitBreaker("t", threshold=2, ttl=0.2)
        states = [await breaker.state()]
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                await breaker.call(_boom)
        states.append(await breaker.state())
        with pytest.raises(CircuitOpenError):
            await breaker.call(_fine)  # not even called
        await asyncio.sleep(0.25)
        assert await breaker.call(_fine) == "ok"  # half-open probe succeeds
        states.append(await breaker.state())
        return states

    assert asyncio.run(scenario()) == ["closed", "opened", "closed"]


def test_dependency_activity_maps_errors(tmp_path: Path) -> None:
    config = build_config("test", secrets_dir=tmp_path)

    async def scenario() -> None:
        activities = Activities(config)
        calls = {"n": 0}

        def handler(request: httpx.Request) -> httpx.Response:
            calls["n"] += 1
            return httpx.Response(200 if calls["n"] == 1 else 500)

        activities.http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        assert (await activities.check_dependency())["status_code"] == 200
        errors = []
        for _ in range(config.orchestrator.breaker_threshold + 1):
            with pytest.raises(ApplicationError) as info:
                await activities.check_dependency()
            errors.append(info.value.type)
        assert errors[0] == "DependencyError"
        assert errors[-1] == "CircuitOpen"
        await activities.close()

    asyncio.run(scenario())


def test_analyse_activity(tmp_path: Path) -> None:
    activities = Activities(build_config("test", secrets_dir=tmp_path))
    assert activities.analyse_text("a a b")["top_words"][0] == ["a", 2]
