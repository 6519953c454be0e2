"""Activities of the text pipeline. Plain functions of a class so they share the HTTP client,
the circuit breaker and the database engine."""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from common.db import create_db_engine, session_factory, upsert_workflow_run
from common.settings import XorbConfig
from orchestrator.breaker import CircuitBreaker, CircuitOpenError

_WORD = re.compile(r"[\w']+", re.UNICODE)


@dataclass
class StoreRequest:
    workflow_id: str
    input: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)


class Activities:
    def __init__(self, config: XorbConfig) -> None:
        self.config = config
        settings = config.orchestrator
        self.breaker = CircuitBreaker(
            "dependency", threshold=settings.breaker_threshold, ttl=settings.breaker_ttl
        )
        self.http = httpx.AsyncClient(timeout=settings.http_timeout)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(create_db_engine(self.config.database))

    @activity.defn(name="analyse_text")
    def analyse_text(self, text: str) -> dict[str, Any]:
        words = [w.lower() for w in _WORD.findall(text)]
        return {
            "characters": len(text),
            "words": len(words),
            "unique_words": len(set(words)),
            "top_words": [[w, n] for w, n in Counter(words).most_common(3)],
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
        }

    @activity.defn(name="check_dependency")
    async def check_dependency(self) -> dict[str, Any]:
        """GET the configured dependency URL through the circuit breaker."""
        url = self.config.orchestrator.dependency_url

        async def call() -> httpx.Response:
            started = time.perf_counter()
            response = await self.http.get(url)
            response.raise_for_status()
            response.extensions["xorb_elapsed"] = time.perf_counter() - started
            return response

        try:
            response = await self.breaker.call(call)
        except CircuitOpenError as exc:
            raise ApplicationError(str(exc), type="CircuitOpen", non_retryable=True) from None
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"dependency call failed: {type(exc).__name__}", type="DependencyError"
            ) from None
        return {
            "status": "ok",
            "status_code": response.status_code,
            "elapsed_ms": round(float(response.extensions["xorb_elapsed"]) * 1000, 1),
        }

    @activity.defn(name="store_run")
    def store_run(self, request: StoreRequest) -> None:
        """Upsert the outcome into PostgreSQL (idempotent: retries are harmless)."""
        with self.sessions() as session:
            upsert_workflow_run(
                session, request.workflow_id, "completed", request.input, request.result
            )

    async def close(self) -> None:
        await self.http.aclose()
