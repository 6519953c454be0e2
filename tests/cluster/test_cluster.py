"""A real three-node swarm on this host (``nox -s cluster``): three dockerd engines in their
own network namespaces on one bridge, the production stack deployed by digest from the
local registry, then spread, a rolling update and an automatic rollback under load, a
drain and a node crash. Figures go to ``reports/cluster.json``; times are reported, never
asserted. ``inv cluster.down`` must leave no namespace, engine, interface or rule.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_ports
from tests.deploy.conftest import Site, bad_release, tag_release, untag_releases
from tests.docker.conftest import Inv, run_inv
from xorb_tools.core import engine, names, registry, services
from xorb_tools.core.poll import wait_for
from xorb_tools.deploy import cluster, deploylog
from xorb_tools.deploy import stack as stack_mod
from xorb_tools.testing import sessions
from xorb_tools.testing.loadgen import Load, LoadResult

pytestmark = [pytest.mark.docker, pytest.mark.cluster]

PREFIX = names.suite_prefix("cl")
ENVIRONMENT = "production"
STACK = f"{PREFIX}-{ENVIRONMENT}"
V1, V2, BAD = "cl-1", "cl-2", "cl-bad"
RATE = 20.0
TIMEOUT = "420"
FAST_HEALTH = """\
x-fast: &fast {interval: 4s, timeout: 10s, retries: 4, start_period: 45s, start_interval: 1s}
services:
  api: {healthcheck: *fast}
  orchestrator: {healthcheck: *fast}
  worker: {healthcheck: *fast}
"""
REPORT: dict[str, object] = {}
RELEASE = ("api", "worker")  # replicated, spread, one per node at most


@dataclass(frozen=True)
class ClusterSite(Site):
    """The module's cluster and stack; traffic goes to nginx on the edge node."""

    nodes: cluster.Cluster

    def load(self) -> Load:
        cluster.check_target(self.https, self.nodes.addresses())  # never anywhere else
        return Load(f"{self.https}/health", rate=RATE, concurrency=8, timeout=20, verify=False)

    def deploy(self, version: str, *extra: str) -> Inv:
        args = ["deploy", "--environment", ENVIRONMENT, "--engine", "swarm", "--version", version]
        args += ["--secrets-dir", str(self.secrets), "--timeout", TIMEOUT]
        return self.inv(*args, *extra)


def _summary(result: LoadResult) -> dict[str, object]:
    return {**result.summary(), "failed_samples": [s.__dict__ for s in result.failed()[:5]]}


def _version(site: ClusterSite) -> str:
    body = httpx.get(f"{site.https}/health", verify=False, timeout=20).json()
    return str(body["version"])


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, production_secrets: Path
) -> Iterator[ClusterSite]:
    built = run_inv("build", "--environment", ENVIRONMENT, "--quiet")
    assert built.code == 0, built.out
    tmp = tmp_path_factory.mktemp("cluster")
    (tmp / "fast-health.yml").write_text(FAST_HEALTH, encoding="utf-8")
    tag_release(V1)
    tag_release(V2)
    bad_release(tmp, BAD)
    http, https, prometheus, grafana = free_ports(4)
    started = time.monotonic()
    up = run_inv("cluster.up", "--nodes", "3")
    try:
        assert up.code == 0, up.out
        REPORT["cluster_up_seconds"] = round(time.monotonic() - started, 1)
        nodes = cluster.require()
        env = {
            **nodes.environment(),
            names.PROJECT_PREFIX_VAR: PREFIX,
            stack_mod.OVERRIDES_VAR: str(tmp / "fast-health.yml"),
            "XORB_STATE_DIR": str(tmp / "state"),
            "XORB_HTTP_PORT": http,
            "XORB_HTTPS_PORT": https,
            "XORB_PROMETHEUS_PORT": prometheus,
            "XORB_GRAFANA_PORT": grafana,
            "XORB_ENDPOINT_MODE": "dnsrr",
            "XORB_PUBLISH_MODE": "host",
            "XORB_SWARM_RESERVATIONS": "off",
            "XORB_API_REPLICAS": "2",
            "XORB_API_WORKERS": "1",
            "XORB_WORKER_REPLICAS": "2",
            "XORB_MAX_REPLICAS_PER_NODE": "1",
            "XORB_UPDATE_DELAY": "2s",
            "XORB_UPDATE_MONITOR": "5s",
        }
        site = ClusterSite(
            env, production_secrets, f"https://{nodes.manager.address}:{https}", nodes
        )
        cluster.check_target(site.https, nodes.addresses())  # before any request is sent
        started = time.monotonic()
        first = site.deploy(V1)
        REPORT["first_deploy_seconds"] = round(time.monotonic() - started, 1)
        assert first.code == 0, first.out[-3000:]
        assert "pushed" in first.out and "by digest" in first.out, first.out[-3000:]
        with pytest.MonkeyPatch.context() as patch:  # the deploy log the tasks write
            patch.setenv("XORB_STATE_DIR", env["XORB_STATE_DIR"])
            yield site
    finally:
        down = run_inv("cluster.down")
        untag_releases(V1, V2, BAD)
        report = sessions.report_dir() / "cluster.json"
        report.write_text(json.dumps(REPORT, indent=2, sort_keys=True) + "\n")
        assert down.code == 0, down.out
        assert cluster.leftovers() == []


def _spread() -> dict[str, list[str]]:
    return cluster.placement(cluster.require(), STACK)


def _settled(replicas: int = 2, away_from: str | None = None) -> bool:
    where = _spread()
    return all(
        len(where.get(name, [])) == replicas
        and len(set(where[name])) == replicas
        and away_from not in where[name]
        for name in RELEASE
    )


@pytest.mark.order(0)
def test_every_node_runs_what_was_built_pinned_by_digest(site: ClusterSite) -> None:
    manager = engine.client(site.nodes.manager.docker_host)
    listed = manager.service.list(filters=[("label", f"com.docker.stack.namespace={STACK}")])
    images = {
        str(s.spec.name): str(s.spec.task_template.container_spec.image)  # type: ignore[union-attr]
        for s in listed
    }
    alias = site.nodes.registry_alias
    assert images and all(i.startswith(f"{alias}/") and "@sha256:" in i for i in images.values())
    # the digest the registry holds for the release tag is the one every node runs
    api = services.load().service("api")
    held = registry.manifest_digest(registry.Ref(site.nodes.registry, api.image, V1))
    assert images[f"{STACK}_api"] == f"{alias}/{api.image}@{held}"
    record = deploylog.read(ENVIRONMENT)[-1]
    assert record.engine == "swarm" and record.digests["api"] == held
    for node in site.nodes.nodes:  # pulled from the registry, by digest, onto each node
        pulled = {d for i in engine.client(node.docker_host).image.list() for d in i.repo_digests}
        wanted = {i for i in images.values()} & pulled
        assert wanted, f"{node.name} pulled none of the stack's images"
    REPORT["images"] = images


@pytest.mark.order(1)
def test_replicas_spread_and_data_services_stay_on_the_data_node(site: ClusterSite) -> None:
    where = _spread()
    REPORT["placement_after_deploy"] = where
    for name in RELEASE:  # two replicas, never two on one node
        assert len(where[name]) == 2 and len(set(where[name])) == 2, where
    manager = site.nodes.manager.name
    for name in ("postgres", "redis", "temporal", "nginx", "prometheus"):
        assert where[name] == [manager], where


@pytest.mark.order(2)
def test_unreachable_registry_stops_before_changing_anything(site: ClusterSite) -> None:
    before = _spread()
    manager = engine.client(site.nodes.manager.docker_host)
    index = manager.service.inspect(f"{STACK}_api").version.index
    result = site.deploy(V2, "--registry", "127.0.0.1:9")
    assert result.code != 0
    errors = [ln for ln in result.lines if ln.startswith("error:")]
    assert len(errors) == 1 and "Registry 127.0.0.1:9 is unreachable" in errors[0], result.out
    assert "Traceback" not in result.out
    assert manager.service.inspect(f"{STACK}_api").version.index == index
    assert _spread() == before and _version(site) == V1


def _deploy_under_load(
    site: ClusterSite, version: str, figure: str
) -> tuple[Inv, LoadResult, float]:
    """Deploy ``version`` while the load runs, keep it on 3 s past the deploy's return; the
    deploy's result, the answers and when the deploy returned (the load's clock)."""
    started = time.monotonic()
    with site.load() as load:
        wait_for(lambda: len(load.result().samples) > 20, 30, "load to start")
        result = site.deploy(version)
        returned = load.now()
        wait_for(lambda: load.now() > returned + 3, 10, f"answers after the {figure}")
    answers = load.result()
    REPORT[figure] = {"seconds": round(time.monotonic() - started, 1), **_summary(answers)}
    return result, answers, returned


@pytest.mark.order(3)
def test_rolling_update_across_nodes_fails_no_request(site: ClusterSite) -> None:
    result, answers, converged = _deploy_under_load(site, V2, "rolling_update")
    assert result.code == 0, result.out[-3000:]
    assert answers.failed() == [], answers.summary()
    assert answers.versions_after(converged) == {V2}
    assert _settled()


@pytest.mark.order(4)
def test_unhealthy_release_is_rolled_back_with_the_tasks_error(site: ClusterSite) -> None:
    result, answers, finished = _deploy_under_load(site, BAD, "rolled_back_update")
    assert result.code != 0
    assert "rolled back" in result.out and "unhealthy" in result.out, result.out[-3000:]
    assert answers.failed() == [], answers.summary()
    assert answers.versions_after(finished) == {V2}
    assert any(r.version == BAD and r.outcome == "rolled-back" for r in deploylog.read())


def _worker_node_with_api() -> str:
    where = _spread()
    manager = cluster.require().manager.name
    return next(n for n in sorted(where["api"]) if n != manager)


@pytest.mark.order(5)
def test_drain_moves_tasks_off_a_node_without_failed_requests(site: ClusterSite) -> None:
    node = _worker_node_with_api()
    with site.load() as load:
        wait_for(lambda: len(load.result().samples) > 20, 30, "load to start")
        drained = site.inv("cluster.drain", node, "--environment", ENVIRONMENT)
        done = load.now()
        wait_for(lambda: load.now() > done + 3, 10, "answers after the drain")
    answers = load.result()
    where = _spread()
    REPORT["drain"] = {"node": node, "placement": where, **_summary(answers)}
    assert drained.code == 0, drained.out
    assert answers.failed() == [], answers.summary()
    assert all(node not in where[name] for name in RELEASE), where
    back = site.inv("cluster.drain", node, "--activate", "--environment", ENVIRONMENT)
    assert back.code == 0, back.out


@pytest.mark.order(6)
def test_a_crashed_node_is_replaced_and_no_queued_job_is_lost(site: ClusterSite) -> None:
    victim = _worker_node_with_api()
    with httpx.Client(base_url=site.https, verify=False, timeout=20) as client:
        jobs = []
        for n in range(24):  # about 18 s of work for four work-horses: busy at the crash
            posted = client.post("/jobs", json={"text": f"cluster job {n}", "duration": 3})
            assert posted.status_code == 202, posted.text
            jobs.append(str(posted.json()["id"]))

        done: set[str] = set()

        def unfinished() -> int:
            """Jobs not yet finished, asked gently: nginx and the API rate-limit one client
            (20/s and 120/minute), and a finished job stays finished."""
            for job in [j for j in jobs if j not in done]:
                answer = client.get(f"/jobs/{job}")
                if answer.status_code == 200 and answer.json().get("status") == "finished":
                    done.add(job)
                time.sleep(0.25)
            return len(jobs) - len(done)

        with site.load() as load:
            wait_for(lambda: len(load.result().samples) > 20, 30, "load to start")
            pending = unfinished()
            crashed_at = load.now()
            killed = cluster.crash(site.nodes, victim)
            recovery = wait_for(lambda: _settled(away_from=victim), 120, "replicas elsewhere")
            back = load.now()
            wait_for(lambda: load.now() > back + 3, 10, "answers after recovery")
        answers = load.result()
        in_flight = [s for s in answers.samples if s.at <= crashed_at < s.at + s.latency]

        jobs_done = wait_for(lambda: unfinished() == 0, 300, "every job to finish", interval=10)
    REPORT["node_crash"] = {
        "node": victim,
        "processes_killed": killed,
        "recovery_seconds": round(recovery, 1),
        "in_flight_at_crash": len(in_flight),
        "jobs": len(jobs),
        "jobs_unfinished_at_crash": pending,
        "jobs_finished_seconds_after_recovery": round(jobs_done, 1),
        "placement_after": _spread(),
        **_summary(answers),
    }
    assert pending > 0  # the crash met queued and running jobs, and none was lost
    assert len(answers.failed()) <= len(in_flight), answers.summary()
    assert _settled(away_from=victim)


@pytest.mark.order(7)
def test_down_removes_every_namespace_engine_and_interface(site: ClusterSite) -> None:
    netns = {n.netns for n in site.nodes.nodes}
    down = run_inv("cluster.down")
    assert down.code == 0, down.out
    assert "The cluster is gone" in down.out
    assert cluster.leftovers() == []
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not netns & set(listed.split())
    again = run_inv("cluster.status")
    assert again.code != 0 and "No cluster is running here" in again.out
