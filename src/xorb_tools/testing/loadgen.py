"""Bounded HTTP load on loopback, for deploy and resilience tests and their reports.

``with Load(url, rate=60) as load: ...`` sends requests at ``rate`` per second from a few
threads (each with its own keep-alive ``httpx.Client``) until the block ends or
``max_seconds`` pass, and records every answer as a :class:`Sample`: when it was sent, its
status (0 for a connection error or timeout), its latency and the ``version`` field of a
JSON body. :meth:`Load.now` is the same clock, so a test can mark "the switch happened" and
ask what answered afterwards. A pacer thread hands out one token per request; when every
sender is busy the tokens wait in a bounded queue, so the achieved rate (``rate()``) is
what the server sustained, never more than asked.

An idempotent request that meets a keep-alive connection the server closed before reading
it (nginx closes idle ones on every graceful reload) is sent once more, as RFC 9112
section 9.3.1 allows and browsers do; httpx does not. The sample is marked ``resent`` and
``summary()`` counts them, so a report shows how often it happened.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import queue
import statistics
import threading
import time
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import httpx

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class Sample:
    """One request: when it was sent (``Load.now`` clock), its answer and how long it took."""

    at: float
    status: int
    latency: float
    version: str | None = None
    error: str | None = None
    resent: bool = False
    instance: str | None = None
    """The ``instance`` field of a JSON answer: which replica answered."""


@dataclass
class LoadResult:
    """The samples of a load run and the figures a report needs."""

    samples: list[Sample]
    ok_statuses: frozenset[int] = frozenset({200})
    started: float = 0.0
    ended: float = 0.0

    def failed(self, since: float = 0.0, until: float = math.inf) -> list[Sample]:
        """Requests sent in ``[since, until)`` that got no answer or an unexpected status."""
        return [
            s
            for s in self.samples
            if since <= s.at < until and (s.status == 0 or s.status not in self.ok_statuses)
        ]

    def instances_between(self, since: float, until: float = math.inf) -> set[str | None]:
        """The replicas that answered requests sent in ``[since, until)``."""
        return {s.instance for s in self.samples if since <= s.at < until and s.status != 0}

    def versions_after(self, t: float) -> set[str | None]:
        """The ``version`` of every answer to a request sent at or after ``t``."""
        return {s.version for s in self.samples if s.at >= t and s.status != 0}

    def percentile(self, p: float) -> float:
        """Latency (seconds) at percentile ``p`` (0-100) of the answered requests."""
        latencies = sorted(s.latency for s in self.samples if s.status != 0)
        if not latencies:
            return math.nan
        if len(latencies) == 1:
            return latencies[0]
        cut = statistics.quantiles(latencies, n=100, method="inclusive")
        return cut[min(max(round(p) - 1, 0), 98)]

    def rate(self) -> float:
        """Requests per second actually sent over the run."""
        span = self.ended - self.started
        return len(self.samples) / span if span > 0 else 0.0

    def summary(self) -> dict[str, object]:
        """Counts, rate and latency percentiles (milliseconds) as plain JSON values."""
        statuses = Counter(str(s.status) for s in self.samples)
        return {
            "sent": len(self.samples),
            "failed": len(self.failed()),
            "rps": round(self.rate(), 1),
            "p50_ms": round(self.percentile(50) * 1000, 1),
            "p95_ms": round(self.percentile(95) * 1000, 1),
            "p99_ms": round(self.percentile(99) * 1000, 1),
            "statuses": dict(sorted(statuses.items())),
            "resent_after_keepalive_close": sum(1 for s in self.samples if s.resent),
            "seconds": round(self.ended - self.started, 1),
        }


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    json_body: object | None
    version_field: str | None
    timeout: float
    verify: bool


@dataclass
class Load:
    """A background load run against one URL; use it as a context manager."""

    url: str
    rate: float = 60.0
    concurrency: int = 8
    timeout: float = 5.0
    verify: bool = False
    version_field: str | None = "version"
    ok_statuses: Collection[int] = (200,)
    headers: Mapping[str, str] | None = None
    method: str = "GET"
    json_body: object | None = None
    max_seconds: float = 600.0
    _samples: list[Sample] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False, repr=False)
    _tokens: queue.Queue[float] = field(init=False, repr=False)
    _origin: float = field(default=0.0, init=False, repr=False)
    _started: float = field(default=0.0, init=False, repr=False)
    _ended: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.concurrency < 1:
            raise ValueError("rate must be positive and concurrency at least 1")
        self._tokens = queue.Queue(maxsize=max(1, self.concurrency * 2))
        self._origin = time.monotonic()

    def now(self) -> float:
        """Seconds on the clock the samples use."""
        return time.monotonic() - self._origin

    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the pacer and the senders."""
        self._started = self.now()
        request = _Request(
            self.method.upper(),
            self.url,
            dict(self.headers or {}),
            self.json_body,
            self.version_field,
            self.timeout,
            self.verify,
        )
        self._threads = [threading.Thread(target=self._pace, name="load-pacer", daemon=True)]
        self._threads += [
            threading.Thread(target=self._send, args=(request,), name=f"load-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight (bounded by the timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        if self._ended is None:
            self._ended = self.now()

    def result(self) -> LoadResult:
        """The samples so far (the run may still be going)."""
        with self._lock:
            samples = sorted(self._samples, key=lambda s: s.at)
        ended = self._ended if self._ended is not None else self.now()
        return LoadResult(samples, frozenset(self.ok_statuses), self._started, ended)

    def _pace(self) -> None:
        interval = 1.0 / self.rate
        deadline = self._started + self.max_seconds
        next_at = self.now()
        while not self._stop.is_set():
            now = self.now()
            if now >= deadline:
                self._stop.set()
                break
            if now < next_at:
                self._stop.wait(next_at - now)
                continue
            with contextlib.suppress(queue.Full):  # every sender busy: the server sets the pace
                self._tokens.put(next_at, timeout=interval)
            next_at += interval
            next_at = max(next_at, self.now() - interval)  # never burst to catch up

    def _send(self, request: _Request) -> None:
        with httpx.Client(verify=request.verify, timeout=request.timeout) as client:
            while not self._stop.is_set():
                try:
                    self._tokens.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._record(self._one(client, request))

    def _one(self, client: httpx.Client, request: _Request) -> Sample:
        sample = self._attempt(client, request)
        closed = (sample.error or "").startswith("RemoteProtocolError: Server disconnected")
        if sample.status == 0 and closed and request.method in IDEMPOTENT:
            again = self._attempt(client, request)
            return dataclasses.replace(again, at=sample.at, resent=True)
        return sample

    def _attempt(self, client: httpx.Client, request: _Request) -> Sample:
        at = self.now()
        try:
            response = client.request(
                request.method, request.url, headers=request.headers, json=request.json_body
            )
        except httpx.HTTPError as exc:
            return Sample(at, 0, self.now() - at, None, f"{type(exc).__name__}: {exc}")
        latency = self.now() - at
        body = None
        if request.version_field and "json" in response.headers.get("content-type", ""):
            with contextlib.suppress(ValueError):
                body = response.json()
        fields = body if isinstance(body, dict) else {}
        version = fields.get(request.version_field) if request.version_field else None
        instance = fields.get("instance")
        return Sample(
            at,
            response.status_code,
            latency,
            None if version is None else str(version),
            instance=None if instance is None else str(instance),
        )

    def _record(self, sample: Sample) -> None:
        with self._lock:
            self._samples.append(sample)
