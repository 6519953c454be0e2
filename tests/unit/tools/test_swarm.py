"""The swarm logic without an engine: compose -> stack file, and reading service state."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import stack as stack_mod
from xorb_tools.deploy import swarm
from xorb_tools.deploy.swarm import converge

APP = frozenset({"xorb/api", "xorb/orchestrator", "xorb/worker"})


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Secret and config files as ``docker compose config`` would name them."""
    out = {}
    for name, text in {
        "jwt_secret": "s3cret",
        "tls_key": "key",
        "nginx.conf": "events {}\n",
    }.items():
        out[name] = tmp_path / name
        out[name].write_text(text)
    (tmp_path / "dashboards").mkdir()
    out["dashboards"] = tmp_path / "dashboards"
    return out


def rendered(files: dict[str, Path]) -> dict[str, Any]:
    """A trimmed ``docker compose config`` of the production file (the shapes it really has)."""
    return {
        "name": "xorb-production",
        "networks": {
            "backend": {"name": "xorb-production_backend", "ipam": {}, "internal": True},
            "edge": {"name": "xorb-production_edge", "ipam": {}},
        },
        "volumes": {"postgres-data": {"name": "xorb-production_postgres-data"}},
        "secrets": {
            "jwt_secret": {"name": "xorb-production_jwt_secret", "file": str(files["jwt_secret"])},
            "tls_key": {"name": "xorb-production_tls_key", "file": str(files["tls_key"])},
        },
        "x-rollout": {"update_config": {}},
        "services": {
            "api": {
                "image": "xorb/api:production",
                "command": None,
                "cap_drop": ["ALL"],
                "read_only": True,
                "restart": "unless-stopped",
                "group_add": ["10001"],
                "security_opt": ["no-new-privileges:true"],
                "depends_on": {"migrate": {"condition": "service_completed_successfully"}},
                "environment": {"XORB_ENV": "production", "PASSWORD_HINT": "a$b"},
                "networks": {"backend": None, "edge": None},
                "secrets": [{"source": "jwt_secret", "target": "/run/secrets/jwt_secret"}],
                "tmpfs": ["/tmp:size=64m,mode=1777"],
                "healthcheck": {"test": ["CMD", "python3", "-m", "common.healthcheck"]},
                "deploy": {
                    "replicas": 3,
                    "endpoint_mode": "vip",
                    "update_config": {
                        "parallelism": 1,
                        "failure_action": "rollback",
                        "order": "start-first",
                    },
                    "resources": {
                        "limits": {"cpus": 1, "memory": "1073741824"},
                        "reservations": {"cpus": 0.5, "memory": "536870912"},
                    },
                    "placement": {},
                },
            },
            "migrate": {
                "image": "xorb/api:production",
                "restart": "no",
                "command": ["python3", "-m", "common.db", "migrate"],
                "networks": {"backend": None},
            },
            "postgres": {
                "image": "xorb/infra-postgres:17",
                "user": "999:999",
                "shm_size": "268435456",
                "tmpfs": ["/var/run/postgresql:size=1m,uid=999,gid=999,mode=2775"],
                "volumes": [
                    {"type": "volume", "source": "postgres-data", "target": "/data", "volume": {}}
                ],
                "devices": ["/dev/fuse"],
            },
            "nginx": {
                "image": "xorb/infra-nginx:1",
                "user": "101:101",
                "secrets": [{"source": "tls_key", "target": "/run/secrets/tls_key"}],
                "healthcheck": {"test": ["CMD-SHELL", "wget -qO- http://x/$uri || exit 1"]},
                "volumes": [
                    {
                        "type": "bind",
                        "source": str(files["nginx.conf"]),
                        "target": "/etc/nginx/nginx.conf",
                        "read_only": True,
                        "bind": {"create_host_path": True},
                    },
                    {
                        "type": "bind",
                        "source": str(files["dashboards"]),
                        "target": "/srv",
                        "read_only": True,
                    },
                    {"type": "bind", "source": "/no/such/dir", "target": "/switch"},
                ],
                "ports": [
                    {"mode": "ingress", "target": 8443, "published": "443", "protocol": "tcp"}
                ],
                "deploy": {"update_config": {"order": "start-first"}},
            },
            "prometheus": {
                "image": "xorb/infra-prometheus:2",
                "ports": [
                    {"mode": "ingress", "host_ip": "127.0.0.1", "target": 9090, "published": "9090"}
                ],
            },
        },
    }


def options(**kw: Any) -> swarm.AdaptOptions:
    base: dict[str, Any] = {
        "stack": "xorb-t",
        "version": "1.2.3",
        "app_images": APP,
        "image_users": {"xorb/api:1.2.3": "1000"},
    }
    return swarm.AdaptOptions(**(base | kw))


def test_release_images_take_the_version_and_say_it(files: dict[str, Path]) -> None:
    out = swarm.adapt(rendered(files), options()).config["services"]
    assert out["api"]["image"] == "xorb/api:1.2.3"
    assert out["api"]["environment"]["XORB_VERSION"] == "1.2.3"
    assert out["migrate"]["image"] == "xorb/api:1.2.3"
    assert out["postgres"]["image"] == "xorb/infra-postgres:17"  # infrastructure untouched
    assert "XORB_VERSION" not in out["postgres"].get("environment", {})


def test_release_tasks_drain_after_sigterm_unless_the_files_say_otherwise(
    files: dict[str, Path],
) -> None:
    config = rendered(files)
    config["services"]["migrate"]["environment"] = {"DRAIN_SECONDS": "0"}
    out = swarm.adapt(config, options()).config["services"]
    assert out["api"]["environment"]["DRAIN_SECONDS"] == str(swarm.DRAIN_SECONDS)
    assert out["migrate"]["environment"]["DRAIN_SECONDS"] == "0"
    assert "DRAIN_SECONDS" not in out["postgres"].get("environment", {})


def test_secrets_are_named_by_content_and_owned_by_the_reader(
    files: dict[str, Path],
) -> None:
    first = swarm.adapt(rendered(files), options()).config
    again = swarm.adapt(rendered(files), options()).config
    files["jwt_secret"].write_text("rotated")
    changed = swarm.adapt(rendered(files), options()).config
    name = first["secrets"]["jwt_secret"]["name"]
    assert name.startswith("xorb-t_jwt_secret_") and len(name.rsplit("_", 1)[1]) == 12
    assert again["secrets"]["jwt_secret"]["name"] == name  # same content: same secret
    assert changed["secrets"]["jwt_secret"]["name"] != name  # swarm secrets are immutable
    assert changed["secrets"]["tls_key"] == first["secrets"]["tls_key"]
    api_secret = first["services"]["api"]["secrets"][0]
    assert (api_secret["uid"], api_secret["gid"], api_secret["mode"]) == ("1000", "1000", 0o400)
    nginx_secret = first["services"]["nginx"]["secrets"][0]
    assert (nginx_secret["uid"], nginx_secret["gid"]) == ("101", "101")  # from `user:`


def test_a_secret_that_is_not_a_file_is_one_sentence(files: dict[str, Path]) -> None:
    config = rendered(files)
    config["secrets"]["jwt_secret"] = {"environment": "JWT"}
    with pytest.raises(XorbError, match=r"The secret jwt_secret is not a file"):
        swarm.adapt(config, options())


def test_tmpfs_and_shm_size_become_mounts(files: dict[str, Path]) -> None:
    adapted = swarm.adapt(rendered(files), options())
    api = adapted.config["services"]["api"]
    assert {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 64 << 20}} in api["volumes"]
    postgres = adapted.config["services"]["postgres"]["volumes"]
    assert {"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": 268435456}} in postgres
    # An owned tmpfs: swarm's tmpfs mounts take no uid/gid, a tmpfs-backed volume does.
    key = "postgres-tmpfs-var-run-postgresql"
    assert {"type": "volume", "source": key, "target": "/var/run/postgresql"} in postgres
    assert adapted.config["volumes"][key]["driver_opts"] == {
        "type": "tmpfs",
        "device": "tmpfs",
        "o": "size=1m,uid=999,gid=999,mode=2775",
    }
    assert any("tmpfs /var/run/postgresql needs an owner" in n for n in adapted.notes)
    assert "tmpfs" not in api and "shm_size" not in adapted.config["services"]["postgres"]


def test_file_binds_become_configs_other_binds_stay_or_go(files: dict[str, Path]) -> None:
    adapted = swarm.adapt(rendered(files), options())
    nginx = adapted.config["services"]["nginx"]
    (ref,) = nginx["configs"]
    assert ref["target"] == "/etc/nginx/nginx.conf" and ref["mode"] == 0o444
    config = adapted.config["configs"][ref["source"]]
    assert config["file"] == str(files["nginx.conf"])
    assert config["name"].startswith("xorb-t_nginx_nginx.conf_")
    assert [v["target"] for v in nginx["volumes"]] == ["/srv"]  # the directory stays a bind
    assert all("bind" not in v for v in nginx["volumes"])  # create_host_path: compose only
    assert any("/no/such/dir does not exist; dropped" in n for n in adapted.notes)


def test_one_shot_services_become_jobs(files: dict[str, Path]) -> None:
    migrate = swarm.adapt(rendered(files), options()).config["services"]["migrate"]
    assert migrate["deploy"]["mode"] == "replicated-job"
    assert migrate["deploy"]["restart_policy"]["condition"] == "on-failure"
    assert "restart" not in migrate


def test_unsupported_keys_are_dropped_with_one_note_each(files: dict[str, Path]) -> None:
    adapted = swarm.adapt(rendered(files), options())
    api = adapted.config["services"]["api"]
    for key in ("depends_on", "security_opt", "group_add", "restart", "command"):
        assert key not in api
    assert "devices" not in adapted.config["services"]["postgres"]
    notes = "\n".join(adapted.notes)
    assert "depends_on is ignored by swarm" in notes
    assert "security_opt" in notes and "group_add dropped" in notes
    assert "swarm does not support devices; dropped (postgres)" in notes
    assert len(adapted.notes) == len(set(adapted.notes))


def test_networks_and_volumes_belong_to_the_stack(files: dict[str, Path]) -> None:
    config = swarm.adapt(rendered(files), options()).config
    assert config["networks"] == {"backend": {"internal": True}, "edge": {}}
    assert "name" not in config["volumes"]["postgres-data"]
    assert config["services"]["api"]["networks"] == {"backend": {}, "edge": {}}
    assert "name" not in config and "x-rollout" not in config


def test_endpoint_and_publish_modes(files: dict[str, Path]) -> None:
    default = swarm.adapt(rendered(files), options())
    services = default.config["services"]
    assert services["api"]["deploy"]["endpoint_mode"] == "vip"  # what the files say
    assert services["nginx"]["ports"] == [
        {"mode": "ingress", "target": 8443, "published": 443, "protocol": "tcp"}
    ]
    assert services["nginx"]["deploy"]["update_config"]["order"] == "start-first"
    assert "ports" not in services["prometheus"]  # loopback only: swarm cannot bind it
    assert any("is for 127.0.0.1 only" in n for n in default.notes)
    host = swarm.adapt(rendered(files), options(endpoint_mode="dnsrr", publish_mode="host"))
    services = host.config["services"]
    assert services["api"]["deploy"]["endpoint_mode"] == "dnsrr"
    assert services["nginx"]["ports"][0]["mode"] == "host"
    # Two tasks on one node cannot bind one host port.
    assert services["nginx"]["deploy"]["update_config"]["order"] == "stop-first"
    assert "endpoint_mode" not in services["migrate"].get("deploy", {})  # a job has none


def test_resources_and_reservations(files: dict[str, Path]) -> None:
    kept = swarm.adapt(rendered(files), options()).config["services"]["api"]["deploy"]
    assert kept["resources"]["limits"]["cpus"] == "1"  # the stack schema wants a string
    assert kept["resources"]["reservations"]["cpus"] == "0.5"
    assert "placement" not in kept
    dropped = swarm.adapt(rendered(files), options(reservations=False))
    assert "reservations" not in dropped.config["services"]["api"]["deploy"]["resources"]
    # three replicas and, while a start-first update runs, one more
    assert swarm.reserved({"api": {"deploy": kept}}) == (2.0, 4 * 536870912)
    swarm.check_capacity((2.0, 1), (2.0, 2))
    with pytest.raises(XorbError, match=r"reserves 2\.5 CPUs .* have 2 CPUs.*=off"):
        swarm.check_capacity((2.5, 1), (2.0, 2))


def test_dollars_are_escaped_for_a_second_interpolation(files: dict[str, Path]) -> None:
    services = swarm.adapt(rendered(files), options()).config["services"]
    assert services["api"]["environment"]["PASSWORD_HINT"] == "a$$b"
    assert "$$uri" in services["nginx"]["healthcheck"]["test"][1]


def test_adapt_leaves_its_input_alone(files: dict[str, Path]) -> None:
    config = rendered(files)
    before = copy.deepcopy(config)
    swarm.adapt(config, options())
    assert config == before


@pytest.mark.parametrize("version", ["", "-1", ".x", "a b", "v1/2", "x" * 129, "1:2"])
def test_bad_versions_are_one_sentence(version: str) -> None:
    with pytest.raises(XorbError, match=r"(Invalid version .*: use an image tag|is empty)"):
        swarm.check_version(version)


@pytest.mark.parametrize("version", ["1.2.3", "sw-1", "v2_rc.1", "a" * 128])
def test_good_versions(version: str) -> None:
    assert swarm.check_version(version) == version


# --------------------------------------------------------------------------------------------
# Reading service state (inspect JSON as the engine returns it)
# --------------------------------------------------------------------------------------------

OLD = {"ContainerSpec": {"Image": "xorb/api:1", "StopGracePeriod": 10_000_000_000}}
NEW = {"ContainerSpec": {"Image": "xorb/api:2", "StopGracePeriod": 10_000_000_000}}


def service(template: dict[str, Any], replicas: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "ID": "s1",
        "Spec": {"TaskTemplate": template, "Mode": {"Replicated": {"Replicas": replicas}}},
        **extra,
    }


def task(
    spec: dict[str, Any], state: str = "running", desired: str = "running", err: str = ""
) -> dict[str, Any]:
    # Task specs leave defaults out (no StopGracePeriod here).
    container = {k: v for k, v in spec["ContainerSpec"].items() if k != "StopGracePeriod"}
    status: dict[str, Any] = {"State": state, "Timestamp": "2026-01-01T00:00:00Z"}
    if err:
        status["Err"] = err
    return {
        "ServiceID": "s1",
        "Spec": {"ContainerSpec": container},
        "DesiredState": desired,
        "Status": status,
    }


def test_every_task_running_the_new_spec_is_converged() -> None:
    state = swarm.service_state("api", service(NEW), [task(NEW), task(NEW)], before=None)
    assert (state.state, state.detail) == ("converged", "2/2 running")


def test_tasks_of_the_old_spec_are_waiting() -> None:
    state = swarm.service_state("api", service(NEW), [task(OLD), task(NEW)], before=None)
    assert (state.state, state.detail) == ("waiting", "1/2 running")


def test_a_task_still_stopping_after_scale_down_is_waiting() -> None:
    tasks = [task(NEW), task(NEW), task(NEW, desired="shutdown")]
    assert swarm.service_state("api", service(NEW), tasks, before=None).state == "waiting"


def test_an_old_update_status_is_not_this_deploys() -> None:
    old = {"State": "rollback_completed", "StartedAt": "t0", "Message": "old news"}
    svc = service(NEW, UpdateStatus=old)
    before = converge.update_key(svc)
    assert swarm.service_state("api", svc, [task(NEW), task(NEW)], before).state == "converged"


def test_rollback_completed_names_the_failed_tasks_error() -> None:
    status = {"State": "rollback_completed", "StartedAt": "t1", "Message": "rollback completed"}
    svc = service(OLD, UpdateStatus=status, PreviousSpec={"TaskTemplate": OLD})
    tasks = [
        task(OLD),
        task(OLD),
        task(NEW, state="failed", desired="shutdown", err="task: unhealthy container"),
    ]
    state = swarm.service_state("api", svc, tasks, before="completed@t0")
    assert (state.state, state.detail) == ("rolled-back", "task: unhealthy container")
    quiet = [task(OLD), task(OLD), task(NEW, state="shutdown", desired="shutdown")]
    state = swarm.service_state("api", svc, quiet, before="completed@t0")
    assert state.detail.startswith("a new task ended shutdown")


@pytest.mark.parametrize(
    ("update", "expected"),
    [("updating", "waiting"), ("rollback_started", "waiting"), ("paused", "failed")],
)
def test_update_states(update: str, expected: str) -> None:
    svc = service(NEW, UpdateStatus={"State": update, "StartedAt": "t1", "Message": "m"})
    assert swarm.service_state("api", svc, [task(NEW), task(NEW)], "").state == expected


def test_jobs_complete_or_fail_for_good_only_after_their_retries() -> None:
    job = {
        "ID": "s1",
        "Spec": {"TaskTemplate": NEW, "Mode": {"ReplicatedJob": {}}},
        "JobStatus": {"JobIteration": {"Index": 7}},
    }
    done = task(NEW, state="complete", desired="complete") | {"JobIteration": {"Index": 7}}
    assert swarm.service_state("migrate", job, [done], None).state == "converged"
    failed = task(NEW, state="failed", desired="shutdown", err="exit 1") | {
        "JobIteration": {"Index": 7}
    }
    state = swarm.service_state("migrate", job, [failed], None)
    assert (state.state, state.final) == ("failed", False)
    old_run = done | {"JobIteration": {"Index": 6}}
    assert swarm.service_state("migrate", job, [old_run], None).state == "waiting"


def test_same_spec_ignores_what_task_specs_leave_out() -> None:
    template = {
        "ContainerSpec": {"Image": "a", "Env": ["X=1"], "DNSConfig": {}, "StopGracePeriod": 1},
        "Runtime": "container",
    }
    assert swarm.same_spec({"ContainerSpec": {"Image": "a", "Env": ["X=1"]}}, template)
    assert not swarm.same_spec({"ContainerSpec": {"Image": "a", "Env": ["X=2"]}}, template)


def test_compose_overrides_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    override = tmp_path / "fast.yml"
    override.write_text("services: {}\n")
    monkeypatch.setenv(stack_mod.OVERRIDES_VAR, str(override))
    assert stack_mod.open_stack("production", resolve_images=False).extra_files == [override]
    monkeypatch.setenv(stack_mod.OVERRIDES_VAR, str(tmp_path / "missing.yml"))
    with pytest.raises(XorbError, match=r"XORB_COMPOSE_OVERRIDES names .*missing.yml"):
        stack_mod.open_stack("production", resolve_images=False)
