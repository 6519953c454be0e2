"""The workflows' pins, their local copies, and how act is driven (no engine, no network).

The real runs are `nox -s workflows` (act against this host's engine) and
tests/docker/test_classic_engine.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from xorb_tools.build import gha
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import ROOT
from xorb_tools.github import actions, workflows

WORKFLOW_FILES = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_every_pin_is_the_commit_its_tag_names_in_the_local_copies() -> None:
    # The lock records, per action, the commit its tag named when refresh-actions checked it
    # against the action's repository, and every copied file's git blob id at that commit.
    assert actions.verify() == []
    lock = actions.read_lock()
    for pin in actions.pins():
        assert lock[pin.repo]["commit"] == pin.commit, pin.where
        assert lock[pin.repo]["tag"] == pin.tag, pin.where


def test_every_action_runs_on_node_24() -> None:
    for repo, entry in actions.read_lock().items():
        paths = entry["paths"]
        assert isinstance(paths, list)
        for sub in paths:
            meta = yaml.safe_load((actions.VENDOR / repo / sub / "action.yml").read_text())
            assert meta["runs"]["using"] == "node24", f"{repo}/{sub} runs on {meta['runs']}"


def _copy_tree(tmp_path: Path) -> tuple[Path, Path]:
    wf = tmp_path / "workflows"
    shutil.copytree(actions.WORKFLOWS, wf)
    vendor = tmp_path / "vendor"
    shutil.copytree(actions.VENDOR, vendor)
    return wf, vendor


def test_verify_finds_a_moved_pin_an_edited_file_and_a_stray_one(tmp_path: Path) -> None:
    wf, vendor = _copy_tree(tmp_path)
    ci = wf / "ci.yml"
    text = ci.read_text()
    sha = actions.read_lock()["actions/checkout"]["commit"]
    ci.write_text(text.replace(f"actions/checkout@{sha}", "actions/checkout@" + "1" * 40, 1))
    (vendor / "actions" / "checkout" / "action.yml").write_text("name: changed\n")
    (vendor / "actions" / "checkout" / "extra.js").write_text("//\n")
    problems = actions.verify(wf, vendor)
    assert any("actions/checkout@111111111111" in p for p in problems), problems
    assert any("action.yml differs" in p for p in problems), problems
    assert any("extra.js is not in the lock" in p for p in problems), problems


def test_an_unpinned_action_is_refused(tmp_path: Path) -> None:
    (tmp_path / "w.yml").write_text("jobs:\n  j:\n    steps:\n      - uses: actions/checkout@v4\n")
    with pytest.raises(XorbError, match=r"w.yml:4: .* is not pinned"):
        actions.pins(tmp_path)


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def action_repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A real git repository of a node action: v1 is its first commit, a second follows."""
    repo = tmp_path / "src" / "o+act"
    (repo / "dist").mkdir(parents=True)
    _git(repo.parent, "init", "-q", "-b", "main", str(repo))
    (repo / "action.yml").write_text("runs:\n  using: node24\n  main: dist/index.js\n")
    (repo / "dist" / "index.js").write_text("console.log('v1')\n")
    (repo / "LICENSE").write_text("MIT\n")
    (repo / "README.md").write_text("not copied\n")
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]
    _git(repo, "add", ".")
    _git(repo, *ident, "commit", "-q", "-m", "one")
    first = _git(repo, "rev-parse", "HEAD")
    _git(repo, "tag", "v1")
    (repo / "dist" / "index.js").write_text("console.log('v2')\n")
    _git(repo, *ident, "commit", "-qam", "two")
    return repo, first, _git(repo, "rev-parse", "HEAD")


def _workflow(tmp_path: Path, sha: str) -> Path:
    wf = tmp_path / "wf"
    wf.mkdir(exist_ok=True)
    (wf / "ci.yml").write_text(f"jobs:\n  j:\n    steps:\n      - uses: o/act@{sha} # v1\n")
    return wf


def test_refresh_copies_what_a_runner_reads_and_the_copy_verifies(
    tmp_path: Path, action_repo: tuple[Path, str, str]
) -> None:
    repo, first, _ = action_repo
    wf, vendor = _workflow(tmp_path, first), tmp_path / "vendor"
    source = str(repo.parent / "{repo_dir}")
    lines = actions.refresh(source, vendor, wf)
    assert lines == [f"o/act@v1 = {first[:12]} (3 files)"]
    assert (vendor / "o" / "act" / "dist" / "index.js").read_text() == "console.log('v1')\n"
    assert not (vendor / "o" / "act" / "README.md").exists()
    lock = json.loads((vendor / "lock.json").read_text())
    assert lock["o/act"]["files"]["dist/index.js"] == _git(
        repo, "rev-parse", f"{first}:dist/index.js"
    )
    assert actions.verify(wf, vendor) == []


def test_refresh_refuses_a_pin_that_is_not_its_tag(
    tmp_path: Path, action_repo: tuple[Path, str, str]
) -> None:
    repo, first, second = action_repo
    wf, vendor = _workflow(tmp_path, second), tmp_path / "vendor"
    with pytest.raises(XorbError, match=rf"o/act@{second} is not v1, which is {first}"):
        actions.refresh(str(repo.parent / "{repo_dir}"), vendor, wf)
    assert not vendor.exists()  # nothing written before every pin checked out


def test_run_steps_call_our_tasks_and_scripts_only() -> None:
    allowed = re.compile(
        r"^(uv run (inv|nox) |bash scripts/|printf '%s' \"\$TOKEN\" \| docker login )"
    )
    for path in WORKFLOW_FILES:
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            for step in job["steps"]:
                if "run" in step:
                    assert allowed.match(step["run"]), f"{path.name}/{name}: {step['run']}"


def test_engine_jobs_provision_the_containerd_store_and_registry_first() -> None:
    for path in WORKFLOW_FILES:
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            runs = [s.get("run", "") for s in job["steps"]]
            engine_steps = [i for i, r in enumerate(runs) if "inv " in r or "nox -s" in r]
            if name == "lint-and-unit" or not engine_steps:
                continue
            provision = [i for i, r in enumerate(runs) if r.startswith("bash scripts/provision.sh")]
            assert provision, f"{path.name}/{name}"
            assert provision[0] < engine_steps[0], f"{path.name}/{name}"


def test_act_skips_only_the_steps_that_talk_to_githubs_api() -> None:
    ci = workflows.load()
    assert workflows.skipped_locally(ci, "lint-and-unit") == []
    assert workflows.skipped_locally(ci, "container-tests") == [
        "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"
    ]
    assert [s.split("@")[0] for s in workflows.skipped_locally(ci, "security-scan")] == [
        "github/codeql-action/upload-sarif"
    ]
    assert workflows.uv_version(ci) == "0.13.9"


def test_act_argv_runs_self_hosted_offline_with_the_local_copies(tmp_path: Path) -> None:
    job = workflows.Job("container-tests", {"service": "api"})
    argv = workflows.act_argv(
        job, action_cache=tmp_path / "a", cache_server=tmp_path / "c", reports=tmp_path / "r",
        token="t",
    )  # fmt: skip
    assert argv[:5] == ["push", "--workflows", str(workflows.CI), "--job", "container-tests"]
    assert "ubuntu-24.04=-self-hosted" in argv and "--action-offline-mode" in argv
    assert argv[argv.index("--matrix") + 1] == "service:api"
    assert argv[argv.index("--cache-server-addr") + 1] == "127.0.0.1"
    mapped = [argv[i + 1] for i, a in enumerate(argv) if a == "--local-repository"]
    assert len(mapped) == len(actions.read_lock())
    assert f"XORB_REPORTS_DIR={tmp_path / 'r'}" in argv
    assert job.slug == "container-tests-api"


def test_dependabot_keeps_every_kind_of_pin_fresh() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"] for u in config["updates"]}
    assert {"github-actions", "uv", "docker", "docker-compose"} <= ecosystems


def test_gha_runtime_and_protocols() -> None:
    with pytest.raises(XorbError, match="not exported to this step"):
        gha.runtime("0.13.1", {"ACTIONS_CACHE_URL": "http://c/"})
    v1 = gha.runtime("0.13.1", {"ACTIONS_RUNTIME_TOKEN": "t", "ACTIONS_CACHE_URL": "http://c/"})
    assert (v1.protocol, v1.url) == (1, "http://c/")
    github = {
        "ACTIONS_RUNTIME_TOKEN": "t",
        "ACTIONS_CACHE_URL": "http://old/",
        "ACTIONS_RESULTS_URL": "https://results/",
        "ACTIONS_CACHE_SERVICE_V2": "True",
    }
    with pytest.raises(XorbError, match=r"only protocol v2, which needs buildx >= 0.21"):
        gha.runtime("0.13.1+ds1", github)
    assert gha.runtime("v0.29.1", github).protocol == 2
    assert gha.speaks_v2("0.21.0") and not gha.speaks_v2("0.20.9")


def test_gha_scope_and_export_mode_sizing() -> None:
    assert gha.scope("xorb/api", "test", "testing") == "api-test-testing"
    assert gha.export_mode(36, {})[0] == "max"  # 36 x 160 MB = 5.8 GB of 10
    mode, why = gha.export_mode(36, {"XORB_GHA_CACHE_BUDGET_GB": "5"})
    assert mode == "min" and "exceed 80% of 5 GB" in why
    with pytest.raises(XorbError, match="not a number"):
        gha.export_mode(1, {"XORB_GHA_CACHE_BUDGET_GB": "lots"})


def test_the_test_workflows_pin_what_the_local_copies_hold() -> None:
    lock = actions.read_lock()
    for pin in actions.pins(ROOT / "tests" / "fixtures" / "workflows"):
        assert (lock[pin.repo]["commit"], lock[pin.repo]["tag"]) == (pin.commit, pin.tag)
