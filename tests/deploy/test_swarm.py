"""Rolling updates and scaling on a single-node Docker Swarm, under load through nginx.

The module makes this engine a swarm manager if it is not one (and leaves the swarm at the
end only then), and deploys the production stack of its own (``xorb-swt-production``: free
ports, its own state dir and secrets) with the settings these hosts need (``dnsrr``
endpoints and host-mode ports: no IPVS here) and short waits: a compose override file
(``XORB_COMPOSE_OVERRIDES``) shortens the release services' health checks, variables
shorten the update delay and monitor, reservations are off and replicas few. The API image
of this checkout is tagged ``sw-1`` and ``sw-2``; ``sw-bad`` never answers its health
check. Load: ``/health`` over HTTPS through nginx. Figures go to ``reports/swarm.json``;
speed is reported, never asserted. Removed at the end: the stack, its volumes, the tags.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from python_on_whales import Config, Secret, Volume

from tests.conftest import free_ports
from tests.deploy.conftest import Site, bad_release, tag_release, untag_releases
from xorb_tools.core import engine, names
from xorb_tools.core.poll import wait_for
from xorb_tools.core.services import ROOT
from xorb_tools.deploy import deploylog, strategy, swarm
from xorb_tools.deploy import stack as stack_mod
from xorb_tools.testing import sessions
from xorb_tools.testing.loadgen import Load, LoadResult

pytestmark = [pytest.mark.docker, pytest.mark.deploy]

PREFIX = names.suite_prefix("swt")
ENVIRONMENT = "production"
STACK = f"{PREFIX}-{ENVIRONMENT}"
V1, V2, BAD = "sw-1", "sw-2", "sw-bad"
RATE = 20.0
TIMEOUT = 420
NGINX_CONF = ROOT / "compose" / "nginx" / "nginx.conf"
RESOLVER_VALID = int(re.search(r"resolver \S+ valid=(\d+)s", NGINX_CONF.read_text())[1])  # type: ignore[index]
FAST_HEALTH = """\
# Release services: a task not healthy 45 s after it started (plus four failed probes) is
# unhealthy and swarm rolls its update back. Swarm also stops a running task that turns
# unhealthy, so the probes tolerate a starved host (2 cores shared with other suites): a
# probe may take 10 s and four in a row must fail.
x-fast: &fast {interval: 4s, timeout: 10s, retries: 4, start_period: 45s, start_interval: 1s}
services:
  api: {healthcheck: *fast}
  orchestrator: {healthcheck: *fast}
  worker: {healthcheck: *fast}
"""
REPORT: dict[str, object] = {}


@dataclass(frozen=True)
class SwarmSite(Site):
    """The module's swarm stack."""

    def load(self) -> Load:
        # nginx retries another replica on a refused connection, which can take its connect
        # timeout (5 s): the client waits longer than that.
        return Load(f"{self.https}/health", rate=RATE, concurrency=8, timeout=20, verify=False)


def _remove_stack() -> None:
    """The stack, then (once its containers are gone, bounded) its volumes."""
    docker = engine.client()
    label = f"com.docker.stack.namespace={STACK}"
    if docker.service.list(filters=[("label", label)]):
        swarm.remove(STACK)
    deadline = time.monotonic() + 120
    while docker.container.list(all=True, filters=[("label", label)]):
        if time.monotonic() > deadline:
            docker.container.remove(
                docker.container.list(all=True, filters=[("label", label)]), force=True
            )
            break
        time.sleep(2)
    volumes: list[Volume | str] = list(docker.volume.list(filters=[("label", label)]))
    if volumes:
        docker.volume.remove(volumes)
    secrets: list[Secret | str] = [s.id for s in docker.secret.list(filters=[("label", label)])]
    if secrets:
        docker.secret.remove(secrets)
    configs: list[Config | str] = [c.id for c in docker.config.list(filters={"label": label})]
    if configs:
        docker.config.remove(configs)


@pytest.fixture(scope="module")
def swarm_node() -> Iterator[None]:
    """This engine as a swarm manager; only a swarm made here is left at the end."""
    created = swarm.init()
    yield
    if created:
        swarm.leave(force=True)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    production_secrets: Path,
    api_image: str,
    swarm_node: None,
) -> Iterator[SwarmSite]:
    tmp = tmp_path_factory.mktemp("swarm")
    override = tmp / "fast-health.yml"
    override.write_text(FAST_HEALTH, encoding="utf-8")
    http, https, prometheus, grafana = free_ports(4)
    env = {
        names.PROJECT_PREFIX_VAR: PREFIX,
        stack_mod.OVERRIDES_VAR: str(override),
        "XORB_STATE_DIR": str(tmp / "state"),
        "XORB_HTTP_PORT": http,
        "XORB_HTTPS_PORT": https,
        "XORB_PROMETHEUS_PORT": prometheus,
        "XORB_GRAFANA_PORT": grafana,
        "XORB_ENDPOINT_MODE": "dnsrr",
        "XORB_PUBLISH_MODE": "host",
        swarm.RESERVATIONS_ENV: "off",
        "XORB_API_REPLICAS": "2",
        "XORB_API_WORKERS": "1",
        "XORB_WORKER_REPLICAS": "1",
        "XORB_UPDATE_DELAY": "2s",
        "XORB_UPDATE_MONITOR": "5s",
    }
    tag_release(V1)
    tag_release(V2)
    bad_release(tmp, BAD)
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        try:
            outcome = strategy.deploy_swarm(
                ENVIRONMENT, V1, secrets_dir=str(production_secrets), timeout=TIMEOUT
            )
            REPORT["first_deploy_seconds"] = round(time.monotonic() - started, 1)
            assert outcome.outcome == "converged", outcome.detail
            yield SwarmSite(env, production_secrets, f"https://127.0.0.1:{https}")
        finally:
            _remove_stack()
            untag_releases(V1, V2, BAD)
            reports = sessions.REPORTS
            reports.mkdir(exist_ok=True)
            (reports / "swarm.json").write_text(json.dumps(REPORT, indent=2) + "\n")


def _version() -> str | None:
    """The image tag of the API service's running tasks (one, or None when they differ)."""
    snap = swarm.snapshot(STACK)
    api = snap.services["api"]
    images = {
        str(t["Spec"]["ContainerSpec"]["Image"])
        for t in snap.tasks_of(api)
        if t.get("DesiredState") == "running"
    }
    return images.pop().rsplit(":", 1)[1] if len(images) == 1 else None


def _running(service: str) -> int:
    snap = swarm.snapshot(STACK)
    return sum(
        1
        for t in snap.tasks_of(snap.services[service])
        if t.get("DesiredState") == "running" and t["Status"]["State"] == "running"
    )


def _summary(result: LoadResult) -> dict[str, object]:
    return {**result.summary(), "failed_samples": [s.__dict__ for s in result.failed()[:5]]}


def _health(site: SwarmSite) -> dict[str, str]:
    body = httpx.get(f"{site.https}/health", verify=False, timeout=20).json()
    return {str(k): str(v) for k, v in body.items()}


def test_rolling_update_converges_with_zero_failed_requests(site: SwarmSite) -> None:
    assert _health(site).get("version") == V1
    started = time.monotonic()
    with site.load() as load:
        time.sleep(2)
        outcome = strategy.deploy_swarm(
            ENVIRONMENT, V2, secrets_dir=str(site.secrets), timeout=TIMEOUT
        )
        converged = load.now()
        time.sleep(3)
    result = load.result()
    REPORT["rolling_update"] = {
        "seconds": round(time.monotonic() - started, 1),
        **_summary(result),
    }
    assert outcome.outcome == "converged", outcome.detail
    assert result.failed() == [], result.summary()
    assert result.versions_after(converged) == {V2}
    assert _version() == V2
    record = deploylog.read(ENVIRONMENT)[-1]
    assert (record.strategy, record.engine, record.version, record.outcome) == (
        "rolling",
        "swarm",
        V2,
        "converged",
    )
    assert record.digests["api"] == outcome.digests["api"]


def test_unhealthy_update_is_rolled_back_and_reported(site: SwarmSite) -> None:
    assert _version() == V2
    started = time.monotonic()
    with site.load() as load:
        time.sleep(2)
        result = site.inv(
            "deploy",
            "--environment",
            ENVIRONMENT,
            "--engine",
            "swarm",
            "--version",
            BAD,
            "--secrets-dir",
            str(site.secrets),
            "--timeout",
            str(TIMEOUT),
        )
        finished = load.now()
        time.sleep(3)
    answers = load.result()
    REPORT["rolled_back_update"] = {
        "seconds": round(time.monotonic() - started, 1),
        **_summary(answers),
    }
    assert result.code != 0, result.out
    assert "rolled back" in result.out, result.out
    assert "unhealthy" in result.out, result.out
    assert answers.failed() == [], answers.summary()
    assert answers.versions_after(finished) == {V2}
    assert _version() == V2
    assert any(r.version == BAD and r.outcome == "rolled-back" for r in deploylog.read())


def _instances(service: str) -> set[str]:
    """The hostnames (short container IDs) of the service's running replicas."""
    snap = swarm.snapshot(STACK)
    return {
        str(t["Status"]["ContainerStatus"]["ContainerID"])[:12]
        for t in snap.tasks_of(snap.services[service])
        if t.get("DesiredState") == "running" and t["Status"]["State"] == "running"
    }


def _resolved_by_nginx(service: str) -> set[str]:
    """The addresses Docker's DNS gives nginx's container for ``service`` right now."""
    docker = engine.client()
    (nginx, *_) = docker.container.list(
        filters={"label": f"com.docker.swarm.service.name={STACK}_nginx"}
    )
    out = docker.container.execute(nginx, ["getent", "ahostsv4", service])
    return {line.split()[0] for line in str(out).splitlines() if line.strip()}


def test_scale_up_then_down_without_failed_requests(site: SwarmSite) -> None:
    up = site.inv("scale", "api=5", "--engine", "swarm", "--environment", ENVIRONMENT)
    assert up.code == 0, up.out
    assert _running("api") == 5
    started = time.monotonic()
    with site.load() as load:
        wait_for(lambda: len(load.result().instances_between(0)) == 5, 30, "all 5 answering")
        down = site.inv("scale", "api=2", "--engine", "swarm", "--environment", ENVIRONMENT)
        remaining = _instances("api")
        wait_for(lambda: len(_resolved_by_nginx("api")) == 2, 30, "DNS to drop the 3 removed")
        dns_settled = load.now()
        # nginx caches an answer for its resolver's `valid=` (its config, not a guess): keep
        # the load on through that window, then past it, where only the 2 may answer.
        settled = dns_settled + RESOLVER_VALID
        wait_for(lambda: load.now() > settled + 2, RESOLVER_VALID + 5, "nginx's cache to expire")
    result = load.result()
    REPORT["scale_down"] = {"seconds": round(time.monotonic() - started, 1), **_summary(result)}
    assert down.code == 0, down.out
    assert _running("api") == 2 and len(remaining) == 2
    assert result.failed() == [], result.summary()
    assert result.instances_between(settled + 0.5) == remaining, result.summary()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("scale", "api=3", "--engine", "kubernetes"), "Unknown engine 'kubernetes'"),
        (("scale", "nosuch=3", "--engine", "swarm"), "Unknown service(s) nosuch"),
        (("scale", "api=many", "--engine", "swarm"), "write SERVICE=N"),
        (("deploy", "--engine", "swarm", "--version", "no such"), "Invalid version 'no such'"),
        (("deploy", "--engine", "swarm", "--version", "sw-missing"), "not in the local image"),
    ],
)
def test_bad_input_changes_nothing(site: SwarmSite, args: tuple[str, ...], says: str) -> None:
    before = swarm.snapshot(STACK).services["api"]["Version"]["Index"]
    extra = ("--secrets-dir", str(site.secrets)) if args[0] == "deploy" else ()
    result = site.inv(*args, *extra, "--environment", ENVIRONMENT)
    assert result.code != 0, result.out
    assert says in result.out, result.out
    assert "Traceback" not in result.out, result.out
    assert swarm.snapshot(STACK).services["api"]["Version"]["Index"] == before


def test_swarm_init_is_idempotent(site: SwarmSite) -> None:
    result = site.inv("swarm.init")
    assert result.code == 0, result.out
    assert "already a swarm manager" in result.out, result.out
    refused = site.inv("swarm.leave")
    assert refused.code != 0 and "--force" in refused.out, refused.out
    assert swarm.node_state() == ("active", True)
