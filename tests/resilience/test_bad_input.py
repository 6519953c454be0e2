"""Bad input across the command surface: every row is one ``inv`` run that must end in one
``error:`` sentence naming the problem (and the remedy), a non-zero exit, no traceback,
and nothing started, removed or overwritten.

Every row runs with its own compose project prefix, so anything it wrongly started would
carry that label; image ids (``xorb/*``) and the input files a row is given are compared
before and after. The rows run a few at a time while the suite's stack boots; the rows for
``inv deploy``'s ``--engine``/``--strategy``/``--version`` run last (``late``).

``tests/docker/test_bad_input.py`` keeps the engine tests that need a build (a failed
build keeps images and cache; ``inv doctor``).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from tests.docker.conftest import Inv, copy_repo, run_inv
from tests.resilience.conftest import Boot
from xorb_tools.core import engine, names, services

pytestmark = [pytest.mark.resilience, pytest.mark.order(0)]

ROW_PREFIX = names.suite_prefix("badinput")
ROW_TAGS = re.compile(
    rf"^({re.escape(services.load().version)}|[0-9a-f]{{12}}|development|staging|production|test)"
    r"(-development|-testing)?$"
)
"""Image tags a row could (wrongly) write: the project version, a commit, an environment
(other engineers' own tags on this host are not compared)."""
DEAD_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
PLUGINS = Path("/usr/libexec/docker/cli-plugins")
# Hide the engine's CLI plugins from one process: a private mount namespace in which the
# plugin folder is replaced by a folder holding only ``keep`` (root only, like CI).
_HIDE = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'


@dataclass(frozen=True)
class Row:
    args: tuple[str, ...]
    needle: str
    env: Mapping[str, str] = field(default_factory=dict)
    plugins: tuple[str, ...] | None = None
    """Only these CLI plugins exist for the run (None: all of them)."""
    in_copy: bool = False
    """Run in the repository copy whose production compose file has a syntax error."""


ROWS: dict[str, Row] = {
    # inv build
    "build-unknown-service": Row(("build", "--service", "nope"), "Unknown service 'nope'"),
    "build-unknown-target": Row(("build", "--target", "debug"), "Unknown target 'debug'"),
    "build-unknown-environment": Row(
        ("build", "--environment", "prod"), "Unknown environment 'prod'"
    ),
    "build-malformed-version": Row(("build", "--version", "1..2"), "Invalid version"),
    "build-unknown-cache": Row(("build", "--cache", "disk"), "Unknown cache mode 'disk'"),
    "build-missing-ca-file": Row(
        ("build", "--ca-cert", "/nonexistent/ca.pem"), "is not a readable file"
    ),
    "build-unreadable-ca-file": Row(("build", "--ca-cert", "{cadir}"), "is not a readable file"),
    "build-ca-not-pem": Row(
        ("build", "--ca-cert", "{cadir}/not-a-bundle"), "holds no PEM certificate"
    ),
    "build-invalid-registry": Row(
        ("build", "--push", "--registry", "bad host:99999"), "Invalid registry 'bad host:99999'"
    ),
    "build-empty-version": Row(("build", "--version", ""), "The version is empty"),
    "build-unreachable-registry": Row(
        ("build", "--push", "--registry", "127.0.0.1:9"), "Registry 127.0.0.1:9 is unreachable"
    ),
    "build-unpullable-base": Row(("build", "--base-image", "nosuch/base:none"), "cannot be pulled"),
    "build-no-daemon": Row(("build",), "No Docker daemon answers", env=DEAD_DOCKER),
    "build-no-buildx": Row(("build", "--service", "api"), "buildx plugin is missing", plugins=()),
    "build-corrupt-cache": Row(
        ("build", "--service", "api"), "is corrupt", env={"XORB_CACHE_DIR": "{cache}"}
    ),
    # inv push / pull
    "push-absent-version": Row(
        ("push", "--registry", "127.0.0.1:9", "--version", "0.0.0-absent"), "does not exist"
    ),
    "push-malformed-version": Row(("push", "--version", "1..2"), "Invalid version"),
    "pull-unreachable-registry": Row(
        ("pull", "--registry", "127.0.0.1:9", "--version", "0.1.0"), "127.0.0.1:9"
    ),
    "pull-unknown-service": Row(("pull", "--service", "nope"), "Unknown service 'nope'"),
    # the stacks
    "up-unknown-environment": Row(("up", "--environment", "prod"), "Unknown environment 'prod'"),
    "up-unknown-service": Row(
        ("up", "--environment", "production", "--secrets-dir", "{secrets}", "--service", "nope"),
        "Unknown service(s) nope",
    ),
    "up-missing-secrets-dir": Row(
        ("up", "--environment", "production", "--secrets-dir", "{nosecrets}"),
        "secrets.init",
    ),
    "up-no-compose": Row(
        ("up", "--environment", "production", "--secrets-dir", "{secrets}"),
        "compose v2 plugin is missing",
        plugins=("docker-buildx",),
    ),
    "up-no-daemon": Row(
        ("up", "--environment", "production", "--secrets-dir", "{secrets}"),
        "No Docker daemon answers",
        env=DEAD_DOCKER,
    ),
    "up-compose-syntax-error": Row(
        ("up", "--environment", "production", "--secrets-dir", "{secrets}"),
        "docker-compose.production.yml",
        in_copy=True,
    ),
    "deploy-unknown-environment": Row(
        ("deploy", "--environment", "qa"), "Unknown environment 'qa'"
    ),
    "deploy-missing-secrets-dir": Row(
        ("deploy", "--environment", "production", "--secrets-dir", "{nosecrets}"),
        "secrets.init",
    ),
    "down-unknown-environment": Row(
        ("down", "--environment", "prod"), "Unknown environment 'prod'"
    ),
    "restart-unknown-service": Row(
        ("restart", "--environment", "production", "--secrets-dir", "{secrets}", "--service", "x"),
        "Unknown service(s) x",
    ),
    "exec-unknown-service": Row(
        ("exec", "--environment", "production", "nope", "--", "sh"), "Unknown service(s) nope"
    ),
    "scale-malformed": Row(("scale", "worker=many"), "Cannot read 'worker=many'"),
    "logs-unknown-environment": Row(("logs", "--environment", "prod"), "Unknown environment"),
    "ps-unknown-environment": Row(("ps", "--environment", "prod"), "Unknown environment"),
    "clean-unknown-environment": Row(("clean", "--environment", "prod"), "Unknown environment"),
    "config-validate-unknown-environment": Row(("config.validate", "prod"), "Unknown environment"),
    "secrets-init-file-as-folder": Row(
        ("secrets.init", "--environment", "production", "--secrets-dir", "{cadir}/not-a-bundle"),
        "is a file, not a folder",
    ),
    "scale-unknown-service": Row(
        ("scale", "nope=2", "--environment", "production", "--secrets-dir", "{secrets}"),
        "Unknown service(s) nope: the stack has",
    ),
    "secrets-init-unknown-environment": Row(
        ("secrets.init", "--environment", "prod"), "Unknown environment"
    ),
    "size-report-unknown-service": Row(
        ("size-report", "--service", "nope"), "Unknown service 'nope'"
    ),
}
LATE_ROWS: dict[str, Row] = {
    "deploy-unknown-engine": Row(
        ("deploy", "--environment", "production", "--engine", "kubernetes"), "kubernetes"
    ),
    "deploy-unknown-strategy": Row(
        ("deploy", "--environment", "production", "--strategy", "canary"), "canary"
    ),
    "deploy-malformed-version": Row(
        ("deploy", "--environment", "production", "--version", "v1/2"), "Invalid version 'v1/2'"
    ),
    "deploy-unbuilt-version": Row(
        ("deploy", "--environment", "production", "--version", "never-built-0"),
        "are not here: build them",
    ),
}


@dataclass(frozen=True)
class Outcome:
    result: Inv
    changed: list[str]
    """What differs after the run: containers, volumes, networks, images, input files."""


@dataclass
class Inputs:
    """The files rows are given, in the session's temporary folder."""

    secrets: Path
    nosecrets: Path
    cache: Path
    cadir: Path
    repo: Path

    def fill(self, text: str) -> str:
        return text.format(
            secrets=self.secrets,
            nosecrets=self.nosecrets,
            cache=self.cache,
            cadir=self.cadir,
        )


def _tree(path: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``path`` (a snapshot)."""
    if path.is_file():
        return {"": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _engine_state() -> dict[str, str]:
    """Containers, volumes and networks of any row's project, and every xorb image's id."""
    docker = engine.client()
    label = "com.docker.compose.project"
    state: dict[str, str] = {}
    owned: list[tuple[str, str, dict[str, str]]] = [
        ("container", c.name, c.config.labels or {})
        for c in docker.container.list(all=True, filters=[("label", label)])
    ]
    owned += [
        ("volume", v.name, v.labels or {}) for v in docker.volume.list(filters=[("label", label)])
    ]
    owned += [
        ("network", n.name, n.labels or {}) for n in docker.network.list(filters=[("label", label)])
    ]
    for kind, name, labels in owned:
        if str(labels.get(label, "")).startswith(ROW_PREFIX):
            state[f"{kind} {name}"] = "present"
    for image in docker.image.list(filters=[("reference", f"{names.namespace()}/*")]):
        for tag in image.repo_tags:
            if ROW_TAGS.match(tag.rpartition(":")[2]):
                state[f"image {tag}"] = str(image.id)
    return state


def _remove_row_projects() -> None:
    """Remove whatever a row wrongly started (its project, with volumes)."""
    docker = engine.client()
    projects = set()
    label = "com.docker.compose.project"
    for container in docker.container.list(all=True, filters=[("label", label)]):
        name = str((container.config.labels or {}).get(label, ""))
        if name.startswith(ROW_PREFIX):
            projects.add(name)
    for volume in docker.volume.list(filters=[("label", label)]):
        name = str((volume.labels or {}).get(label, ""))
        if name.startswith(ROW_PREFIX):
            projects.add(name)
    for name in sorted(projects):
        DockerClient(
            client_call=list(docker.client_config.client_call), compose_project_name=name
        ).compose.down(volumes=True, remove_orphans=True, quiet=True)


def _argv(row: Row, inputs: Inputs) -> tuple[list[str], dict[str, str], Path]:
    args = [inputs.fill(a) for a in row.args]
    env = {k: inputs.fill(v) for k, v in row.env.items()}
    env["XORB_PROJECT_PREFIX"] = ROW_PREFIX
    return args, env, inputs.repo if row.in_copy else Path.cwd()


def _run(row: Row, inputs: Inputs, scratch: Path) -> Inv:
    args, env, cwd = _argv(row, inputs)
    if row.plugins is None:
        return run_inv(*args, cwd=cwd, env=env)
    keep = scratch / "plugins"
    keep.mkdir(parents=True)
    for name in row.plugins:
        (keep / name).symlink_to(PLUGINS / name)
    hide = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _HIDE, "sh"]
    argv = [*hide, str(keep), str(PLUGINS), sys.executable, "-m", "invoke", *args]
    return _run_argv(argv, cwd, env)


def _run_argv(argv: list[str], cwd: Path, env: Mapping[str, str]) -> Inv:
    import subprocess

    environ = {k: v for k, v in os.environ.items() if k != "PYTHON_ON_WHALES_DEBUG"}
    environ.update(env)
    proc = subprocess.run(
        argv, cwd=cwd, env=environ, capture_output=True, text=True, timeout=600, check=False
    )
    return Inv(proc.returncode, proc.stdout + proc.stderr)


def _outcome(row: Row, inputs: Inputs, scratch: Path) -> Outcome:
    files_before = {name: _tree(getattr(inputs, name)) for name in ("secrets", "cache", "cadir")}
    result = _run(row, inputs, scratch)
    files_after = {name: _tree(getattr(inputs, name)) for name in ("secrets", "cache", "cadir")}
    changed = [name for name in files_before if files_before[name] != files_after[name]]
    return Outcome(result, changed)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, boot: Boot) -> Inputs:
    base = tmp_path_factory.mktemp("bad-input")
    cache = base / "cache"
    (cache / "production" / "api").mkdir(parents=True)
    (cache / "production" / "api" / "index.json").write_text("{truncated")
    cadir = base / "ca.pem"
    cadir.mkdir()
    (cadir / "not-a-bundle").write_text("a folder is not a CA bundle\n")
    repo = copy_repo(base / "repo")
    broken = repo / "compose" / "docker-compose.production.yml"
    broken.write_text(broken.read_text() + "\n  nginx: [unclosed\n")
    return Inputs(boot.secrets_dir, base / "no-secrets", cache, cadir, repo)


@pytest.fixture(scope="module")
def outcomes(
    inputs: Inputs, boot: Boot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Outcome]]:
    """Every row, a few at a time (after the suite's own build, which tags images)."""
    assert boot.built.wait(timeout=900), "the production build did not finish"
    engine_before = _engine_state()
    scratch = tmp_path_factory.mktemp("rows")
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = {
            name: pool.submit(_outcome, row, inputs, scratch / name) for name, row in ROWS.items()
        }
        done = {name: future.result() for name, future in futures.items()}
    engine_after = _engine_state()
    moved = sorted(
        k
        for k in engine_before.keys() | engine_after.keys()
        if engine_before.get(k) != engine_after.get(k)
    )
    for name, outcome in done.items():
        done[name] = Outcome(outcome.result, outcome.changed + moved)
    yield done
    _remove_row_projects()
    shutil.rmtree(scratch, ignore_errors=True)


def _check(outcome: Outcome, needle: str) -> None:
    result = outcome.result
    assert result.code != 0, result.out
    assert "Traceback" not in result.out, result.out
    errors = [ln for ln in result.lines if ln.startswith("error:")]
    assert len(errors) == 1, result.out
    assert needle in errors[0], result.out
    assert outcome.changed == [], f"changed: {outcome.changed}"


def test_the_table_has_at_least_25_rows() -> None:
    assert len(ROWS) + len(LATE_ROWS) >= 25


@pytest.mark.parametrize("name", list(ROWS))
def test_bad_input_is_one_sentence_and_changes_nothing(
    name: str, outcomes: dict[str, Outcome]
) -> None:
    _check(outcomes[name], ROWS[name].needle)


@pytest.fixture(scope="module")
def late_outcomes(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """The ``inv deploy`` rows, together (each resolves the stack's images first)."""
    scratch = tmp_path_factory.mktemp("late-rows")
    before = _engine_state()
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = {
                name: pool.submit(_outcome, row, inputs, scratch / name)
                for name, row in LATE_ROWS.items()
            }
            done = {name: future.result() for name, future in futures.items()}
        after = _engine_state()
    finally:
        _remove_row_projects()
    moved = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return {name: Outcome(o.result, o.changed + moved) for name, o in done.items()}


@pytest.mark.late
@pytest.mark.parametrize("name", list(LATE_ROWS))
def test_bad_deploy_flags_are_one_sentence(name: str, late_outcomes: dict[str, Outcome]) -> None:
    """``inv deploy --engine/--strategy/--version`` (added by the blue-green change)."""
    _check(late_outcomes[name], LATE_ROWS[name].needle)
