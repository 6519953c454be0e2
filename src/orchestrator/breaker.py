"""Circuit breaker around the external HTTP dependency, from ``purgatory``.

Why purgatory: it is maintained, typed (``py.typed``), asyncio-native (the activity is a
coroutine), pure Python with no dependencies (image budget), and has the classic closed ->
opened -> half-opened states with a failure threshold and a recovery TTL. State is kept in
memory per orchestrator process (purgatory can keep it in Redis too; a per-process breaker is
the usual choice and needs no extra round trip).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Gauge
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

T = TypeVar("T")

STATE_VALUES = {"closed": 0, "half-opened": 1, "opened": 2}
BREAKER_STATE = Gauge("xorb_circuit_breaker_state", "0 closed, 1 half-open, 2 open", ["circuit"])


class CircuitOpenError(Exception):
    """The circuit is open: the dependency is not called at all."""

    def __init__(self, circuit: str) -> None:
        self.circuit = circuit
        super().__init__(f"circuit {circuit} is open")


class CircuitBreaker:
    def __init__(self, name: str, *, threshold: int, ttl: float) -> None:
        self.name = name
        self._factory = AsyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=ttl)
        BREAKER_STATE.labels(name).set(0)

    async def state(self) -> str:
        breaker = await self._factory.get_breaker(self.name)
        return str(breaker.context.state)

    async def call(self, func: Callable[[], Awaitable[T]]) -> T:
        """Await ``func()`` through the breaker; :class:`CircuitOpenError` when open."""
        breaker = await self._factory.get_breaker(self.name)
        try:
            async with breaker:
                return await func()
        except OpenedState:
            raise CircuitOpenError(self.name) from None
        finally:
            BREAKER_STATE.labels(self.name).set(STATE_VALUES.get(str(breaker.context.state), 0))
