"""Every task ``inv --list`` shows, run as a user would with no Docker daemon and with a
broken service table: each ends in one ``error:`` sentence and a non-zero exit, never a
traceback, and leaves no new file in the working tree.

The task list is read from ``inv --list``, so a new task is covered the day it is added;
one that needs arguments to start gets them in :data:`ARGS`, and one that needs no engine
at all is named in :data:`ENGINE_FREE` with the bad input it gets instead.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.docker.conftest import Inv, copy_repo, run_inv

DEAD_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
ARGS: dict[str, tuple[str, ...]] = {
    "exec": ("api", "--", "true"),
    "scale": ("worker=2",),
    "config.validate": ("production",),
    "cluster.drain": ("node2",),
}
ENGINE_FREE: dict[str, tuple[str, ...]] = {
    # tasks that need no engine: with no daemon they get an input that is wrong for them
    "config.validate": ("prod",),
    "secrets.init": ("--environment", "qa"),
    "deploy.history": ("--environment", "qa"),
    "workflows.run": ("--job", "no-such-job"),
    "workflows.refresh-actions": ("--source", "/nonexistent/{repo}"),
    # the cluster's own engines need no host daemon; XORB_CLUSTER_DIR (below) is a file
    "cluster.down": (),
    "cluster.status": (),
    "cluster.drain": ("node2",),
    # signing needs a key and a registry, not an engine
    "keygen": ("--out", "/proc/no-such/keys"),
    "sign": ("--version", "no such"),
    "verify": ("--version", "no such"),
}
REPORTS = {"doctor"}
"""Tasks whose output is a report of checks: the report, then one ``error:`` line."""


def _files(root: Path) -> set[str]:
    return {
        str(Path(d, f).relative_to(root))
        for d, dirs, files in os.walk(root)
        for f in files
        if "__pycache__" not in d
    }


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two copies of the checkout: as it is, and with a service port that is not a number."""
    good = copy_repo(tmp_path_factory.mktemp("good"))
    broken = copy_repo(tmp_path_factory.mktemp("broken"))
    pyproject = broken / "pyproject.toml"
    text, count = re.subn(r"(?m)^port = 9001$", 'port = "90x1"', pyproject.read_text())
    assert count == 1
    pyproject.write_text(text)
    return {"good": good, "broken": broken}


@pytest.fixture(scope="module")
def tasks(copies: dict[str, Path]) -> list[str]:
    listed = run_inv("--list", cwd=copies["good"])
    assert listed.code == 0, listed.out
    names = re.findall(r"(?m)^  ([a-z][\w.-]*)", listed.out)
    assert len(names) > 20, listed.out
    return names


def _run_all(
    root: Path, runs: dict[str, tuple[str, ...]], env: dict[str, str]
) -> tuple[dict[str, Inv], set[str], set[str]]:
    before = _files(root)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = {
            task: pool.submit(run_inv, task, *args, cwd=root, env=env)
            for task, args in runs.items()
        }
    after = _files(root)
    return {t: f.result() for t, f in futures.items()}, before, after


def _problems(task: str, result: Inv, needle: str) -> list[str]:
    lines = result.lines
    problems = []
    if result.code == 0:
        problems.append("exit 0")
    if "Traceback" in result.out:
        problems.append("a traceback")
    if not lines or not lines[-1].startswith("error: "):
        problems.append("no closing 'error:' line")
    elif needle not in lines[-1]:
        problems.append(f"the error does not say {needle!r}")
    if task not in REPORTS and len(lines) != 1:
        problems.append(f"{len(lines)} lines")
    return [f"{task}: {p}: {result.out[-400:]!r}" for p in problems]


def test_with_no_daemon_every_task_says_so_in_one_line(
    copies: dict[str, Path], tasks: list[str], tmp_path: Path
) -> None:
    root = copies["good"]
    runs = {t: ENGINE_FREE.get(t, ARGS.get(t, ())) for t in tasks}
    env = {
        **DEAD_DOCKER,
        "XORB_STATE_DIR": str(tmp_path / "state"),
        "XORB_CLUSTER_DIR": str(root / "pyproject.toml"),  # never a real cluster's
    }
    results, before, after = _run_all(root, runs, env)
    problems: list[str] = []
    for task, result in results.items():
        needle = "" if task in ENGINE_FREE else "No Docker daemon answers"
        if task in REPORTS:
            needle = "Docker engine"
        problems += _problems(task, result, needle)
    assert not problems, "\n".join(problems)
    assert after == before, f"new files: {sorted(after - before)}"
    assert not (tmp_path / "state").exists()


def test_with_a_broken_service_table_every_task_names_the_key(
    copies: dict[str, Path], tasks: list[str]
) -> None:
    root = copies["broken"]
    runs = {t: ARGS.get(t, ()) for t in tasks}
    results, before, after = _run_all(root, runs, {})
    needle = "service 'orchestrator', key 'port'"
    problems = [p for t, r in results.items() for p in _problems(t, r, needle) if t not in REPORTS]
    problems += [p for t in REPORTS for p in _problems(t, results[t], needle)]
    assert not problems, "\n".join(problems)
    assert after == before, f"new files: {sorted(after - before)}"
    # `inv --list` still lists (it reads no table); `nox -l` says what is wrong, in one line
    assert run_inv("--list", cwd=root).code == 0
    nox = subprocess.run(
        [sys.executable, "-m", "nox", "-l"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = [ln for ln in (nox.stdout + nox.stderr).splitlines() if ln.strip()]
    assert nox.returncode != 0 and "Traceback" not in nox.stderr, nox.stderr[-2000:]
    assert out[-1].startswith("error: The service table") and needle in out[-1], out
