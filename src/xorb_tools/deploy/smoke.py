"""``inv test``: smoke tests against a deployed environment, through its nginx.

The HTTPS port is the one the engine published for the stack's nginx (``docker compose
port``), so the checks follow whatever ``XORB_HTTPS_PORT`` the stack was started with. The
certificate is verified against ``tls_cert`` of the secrets folder when it is there.
Checks: ``/health`` (status ok, a version), ``/ready`` (every dependency ok) and a job round
trip (``POST /jobs``, then ``GET /jobs/<id>`` until the worker has finished it).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import stack as stack_mod

HTTPS_PORT = 8443
JOB_TIMEOUT = 60.0


@dataclass(frozen=True)
class Check:
    """One smoke check and what it saw."""

    name: str
    ok: bool
    detail: str


def endpoint(
    environment: str, secrets_dir: str | Path | None = None
) -> tuple[str, ssl.SSLContext | bool]:
    """The environment's HTTPS base URL on loopback and what to verify its certificate with."""
    stack = stack_mod.open_stack(environment, secrets_dir=secrets_dir, resolve_images=False)
    engine.require_daemon()
    try:
        with engine.docker_errors(f"Finding nginx's HTTPS port of {stack.project}"):
            _host, port = stack.docker.compose.port("nginx", HTTPS_PORT)
    except XorbError:
        port = None
    if not port:
        raise XorbError(
            f"{environment} is not deployed here: {stack.project} has no running nginx "
            f"(deploy it with `uv run inv deploy --environment {environment}`)."
        )
    cert = stack_mod.secrets_folder(secrets_dir) / "tls_cert"
    verify = ssl.create_default_context(cafile=str(cert)) if cert.is_file() else False
    return f"https://127.0.0.1:{port}", verify


def _health(client: httpx.Client) -> str:
    response = client.get("/health")
    body = response.json()
    if response.status_code != 200 or body.get("status") != "ok":
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:200]}")
    return f"version {body.get('version')}"


def _ready(client: httpx.Client) -> str:
    response = client.get("/ready")
    body = response.json()
    if response.status_code != 200:
        raise AssertionError(f"HTTP {response.status_code}, failed: {body.get('failed')}")
    return ", ".join(f"{k} {v}" for k, v in sorted(body.get("checks", {}).items()))


def _job(client: httpx.Client, timeout: float = JOB_TIMEOUT) -> str:
    accepted = client.post("/jobs", json={"text": "smoke test smoke"})
    if accepted.status_code != 202:
        raise AssertionError(f"POST /jobs: HTTP {accepted.status_code}: {accepted.text[:200]}")
    job_id = accepted.json()["id"]
    deadline = time.monotonic() + timeout
    status = "queued"
    while time.monotonic() < deadline:
        body = client.get(f"/jobs/{job_id}").json()
        status = str(body.get("status"))
        if status == "finished":
            return f"job {job_id} finished: {body.get('result')}"
        if status in ("failed", "stopped", "canceled"):
            raise AssertionError(f"job {job_id} {status}: {body.get('error')}")
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {status} after {timeout:.0f}s")


CHECKS: tuple[tuple[str, Callable[[httpx.Client], str]], ...] = (
    ("health", _health),
    ("ready", _ready),
    ("job round trip", _job),
)


def run(environment: str, secrets_dir: str | Path | None = None) -> list[Check]:
    """Every check against ``environment``'s nginx; failures are rows, not exceptions."""
    base_url, verify = endpoint(environment, secrets_dir)
    results = []
    with httpx.Client(base_url=base_url, verify=verify, timeout=10) as client:
        for name, check in CHECKS:
            try:
                results.append(Check(name, True, check(client)))
            except (AssertionError, httpx.HTTPError, ValueError, KeyError) as exc:
                results.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
    return results


def failed(results: list[Check]) -> None:
    """One sentence naming the failed checks, if any."""
    bad = [r for r in results if not r.ok]
    if bad:
        raise XorbError(
            "Smoke test failed: " + "; ".join(f"{r.name} ({r.detail})" for r in bad) + "."
        )
