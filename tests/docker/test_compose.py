"""The compose stacks on the real engine, driven through the tasks a user runs.

Host ports are moved off the defaults (other stacks and servers may hold them), each stack
test has a time budget and removes its stack in ``finally``.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docker.conftest import run_inv
from xorb_tools.core import engine, names
from xorb_tools.core.poll import wait_for
from xorb_tools.core.services import ROOT
from xorb_tools.deploy import stack

pytestmark = pytest.mark.docker

DEV_PORTS = {
    "XORB_DEV_POSTGRES_PORT": "25432",
    "XORB_DEV_REDIS_PORT": "26379",
    "XORB_DEV_TEMPORAL_PORT": "27233",
    "XORB_DEV_API_PORT": "28000",
    "XORB_DEV_ORCHESTRATOR_PORT": "29001",
    "XORB_DEV_PROMETHEUS_PORT": "29090",
    "XORB_DEV_GRAFANA_PORT": "23000",
}
PROD_ENV = {
    "XORB_HTTP_PORT": "28080",
    "XORB_HTTPS_PORT": "28443",
    "XORB_PROMETHEUS_PORT": "29091",
    "XORB_GRAFANA_PORT": "23001",
    # Two cores: one gunicorn worker per API replica keeps the test's start-up short.
    "XORB_API_WORKERS": "1",
}


def project_containers(environment: str, all_: bool = True) -> list[str]:
    label = f"com.docker.compose.project={names.project_name(environment)}"
    found = engine.client().container.list(all=all_, filters={"label": label})
    return [c.name for c in found]


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "secrets"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("environment", ["development", "production"])
def test_compose_config_passes(environment: str, secrets_dir: Path) -> None:
    assert (
        run_inv(
            "secrets.init", "--environment", environment, "--secrets-dir", str(secrets_dir)
        ).code
        == 0
    )
    s = stack.open_stack(environment, secrets_dir=secrets_dir, resolve_images=False)
    config = stack.preflight(s)
    assert config["name"] == names.project_name(environment)
    assert {"api", "orchestrator", "worker", "migrate", "postgres", "redis"} <= set(
        config["services"]
    )
    report = run_inv("config.validate", environment, "--secrets-dir", str(secrets_dir))
    assert "compose:" not in report.out, report.out


@pytest.mark.timeout(420)
def test_development_stack_hot_reload_and_down(tmp_path: Path, secrets_dir: Path) -> None:
    # The stack mounts a copy of src/, so the test edits the copy, never the working tree.
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**DEV_PORTS, "XORB_DEV_SRC": str(src)}
    assert (
        run_inv(
            "secrets.init", "--environment", "development", "--secrets-dir", str(secrets_dir)
        ).code
        == 0
    )
    try:
        started = time.monotonic()
        result = run_inv(
            "up", "--environment", "development", "--secrets-dir", str(secrets_dir), env=env
        )
        assert result.code == 0, result.out
        print(f"development up: {time.monotonic() - started:.0f}s")
        rows = stack.health(stack.open_stack("development", resolve_images=False))
        for row in rows:
            if row.service == "migrate":
                assert row.state == "exited"
            else:
                assert (row.state, row.health) == ("running", "healthy"), row

        base = f"http://127.0.0.1:{DEV_PORTS['XORB_DEV_API_PORT']}"
        token = uuid.uuid4().hex
        routes = src / "api" / "routes.py"
        routes.write_text(
            routes.read_text()
            + f'\n\n@api.get("/reload-probe")\ndef reload_probe() -> dict[str, str]:\n'
            f'    return {{"token": "{token}"}}\n'
        )
        edited = time.monotonic()

        def live() -> bool:
            response = httpx.get(f"{base}/reload-probe", timeout=2)
            return response.status_code == 200 and response.json()["token"] == token

        wait_for(live, 60, "the edited API source to be served")
        print(f"hot reload: {time.monotonic() - edited:.1f}s")

        # --scale worker=4 works (no fixed names or host ports on the worker).
        scaled = run_inv(
            "scale",
            "worker=2",
            "--environment",
            "development",
            "--secrets-dir",
            str(secrets_dir),
            env=env,
        )
        assert scaled.code == 0, scaled.out
        assert sum("worker" in n for n in project_containers("development", all_=False)) == 2

        # Piped (run_inv captures stdout), the logs carry no escape or control characters.
        logs = run_inv("logs", "--environment", "development", "--tail", "20", env=env)
        assert logs.code == 0 and "api" in logs.out, logs.out
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", logs.out), repr(logs.out[:300])
    finally:
        down = run_inv("down", "--environment", "development", "--volumes", env=env)
    assert down.code == 0, down.out
    assert project_containers("development") == []
    volumes = engine.client().volume.list(
        filters={"label": f"com.docker.compose.project={names.project_name('development')}"}
    )
    assert volumes == []


@pytest.mark.timeout(480)
def test_production_deploy_end_to_end(secrets_dir: Path) -> None:
    assert (
        run_inv(
            "secrets.init", "--environment", "production", "--secrets-dir", str(secrets_dir)
        ).code
        == 0
    )
    try:
        started = time.monotonic()
        result = run_inv(
            "deploy", "--environment", "production", "--secrets-dir", str(secrets_dir), env=PROD_ENV
        )
        assert result.code == 0, result.out
        print(f"production deploy: {time.monotonic() - started:.0f}s")
        docker = engine.client()
        running = docker.container.list(
            filters={"label": f"com.docker.compose.project={names.project_name('production')}"}
        )
        by_service: dict[str, int] = {}
        for c in running:
            service = (c.config.labels or {})["com.docker.compose.service"]
            by_service[service] = by_service.get(service, 0) + 1
            assert c.state.health is None or c.state.health.status == "healthy", c.name
            # Non-root, read-only root filesystem, no capabilities, no privilege gain.
            user = c.config.user or ""
            assert user and not user.startswith(("0", "root")), (c.name, user)
            assert c.host_config.readonly_rootfs, c.name
            assert c.host_config.cap_drop == ["ALL"] and not c.host_config.cap_add, c.name
            assert "no-new-privileges:true" in (c.host_config.security_opt or []), c.name
        assert by_service["api"] == 3 and by_service["worker"] == 4, by_service

        https = f"https://127.0.0.1:{PROD_ENV['XORB_HTTPS_PORT']}"
        with httpx.Client(verify=str(secrets_dir / "tls_cert"), timeout=10) as client:
            assert client.get(f"{https}/health").json()["status"] == "ok"
            job = client.post(f"{https}/jobs", json={"text": "a b a"}).json()

            def finished() -> bool:
                body = client.get(f"{https}/jobs/{job['id']}").json()
                assert body["status"] != "failed", body
                return bool(body["status"] == "finished")

            wait_for(finished, 60, "the job to finish")

            # The API sees the client nginx saw, not nginx and not a forged X-Forwarded-For:
            # its per-client rate limit is per client, and no client picks its own key.
            request_id = f"who-{uuid.uuid4().hex[:12]}"
            forged = {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": request_id}
            assert client.get(f"{https}/jobs/{job['id']}", headers=forged).status_code == 200
        docker = engine.client()
        project = {"label": f"com.docker.compose.project={names.project_name('production')}"}
        nginx_ips = {
            net.ip_address
            for c in docker.container.list(filters={**project, "name": "nginx"})
            for net in (c.network_settings.networks or {}).values()
        }
        api_lines = [
            json.loads(line)
            for c in docker.container.list(filters=project)
            if (c.config.labels or {})["com.docker.compose.service"] == "api"
            for line in str(docker.container.logs(c)).splitlines()
            if request_id in line
        ]
        assert len(api_lines) == 1, api_lines
        seen = api_lines[0]["client"]
        assert seen not in nginx_ips | {"203.0.113.9", "-"}, (seen, nginx_ips)

        redirect = httpx.get(f"http://127.0.0.1:{PROD_ENV['XORB_HTTP_PORT']}/health")
        assert redirect.status_code == 301
        assert redirect.headers["location"].startswith("https://")

        # nginx's own rate limit answers 429 to a burst (liveness, /health, is exempt).
        def hit(_: int) -> int:
            url = f"{https}/jobs/{job['id']}"
            return httpx.get(url, verify=False, timeout=10).status_code

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(hit, range(150)))
        assert 429 in codes and 200 in codes, codes

        # No secret value in `docker inspect` or any log.
        values = [
            p.read_text().strip()
            for p in secrets_dir.iterdir()
            if p.name not in ("tls_cert",) and p.is_file()
        ]
        everything = docker.container.list(
            all=True,
            filters={"label": f"com.docker.compose.project={names.project_name('production')}"},
        )
        inspected = json.dumps(
            [c._get_inspect_result().model_dump(mode="json") for c in everything]
        )
        logs = "".join(str(docker.container.logs(c)) for c in everything)
        for value in values:
            key_body = value.splitlines()[1] if "PRIVATE KEY" in value else value
            assert key_body not in inspected
            assert key_body not in logs
    finally:
        down = run_inv("down", "--environment", "production", "--volumes", env=PROD_ENV)
    assert down.code == 0, down.out
    assert project_containers("production") == []


def test_bad_input_is_one_sentence_and_starts_nothing(tmp_path: Path, secrets_dir: Path) -> None:
    unknown = run_inv("up", "--environment", "qa")
    assert unknown.code == 1 and "Unknown environment 'qa'" in unknown.out

    assert (
        run_inv(
            "secrets.init", "--environment", "production", "--secrets-dir", str(secrets_dir)
        ).code
        == 0
    )
    (secrets_dir / "jwt_secret").unlink()
    missing = run_inv(
        "up", "--environment", "production", "--secrets-dir", str(secrets_dir), env=PROD_ENV
    )
    assert missing.code == 1
    assert "needs secret file(s) jwt_secret" in missing.out and "secrets.init" in missing.out
    assert project_containers("production") == []

    # A copy of the repository whose compose file does not validate.
    from tests.docker.conftest import copy_repo

    assert (
        run_inv(
            "secrets.init", "--environment", "production", "--secrets-dir", str(secrets_dir)
        ).code
        == 0
    )
    repo = copy_repo(tmp_path / "repo")
    broken = repo / "compose" / "docker-compose.development.yml"
    broken.write_text(
        broken.read_text().replace("restart: unless-stopped", "restart: [unless-stopped]", 1)
    )
    bad = run_inv(
        "up",
        "--environment",
        "development",
        "--secrets-dir",
        str(secrets_dir),
        cwd=repo,
        env=DEV_PORTS,
    )
    assert bad.code == 1
    assert "Validating compose/docker-compose.development.yml" in bad.out, bad.out
    assert project_containers("development") == []
