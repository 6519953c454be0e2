"""The GitHub actions the workflows pin, and their local copies under ``third_party/actions``.

``act`` runs our workflows with no network (``nox -s workflows``), so every ``uses:`` action
resolves to a folder of this repository. :func:`refresh` makes those folders from the
actions' git repositories and refuses a pin whose commit is not the one its tag names (an
impostor or mistyped pin, which an offline linter cannot see); :func:`verify` checks the
workflows' pins against the lock and every copied file against the git blob id recorded for
it, with no network.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
VENDOR = ROOT / "third_party" / "actions"
LOCK = VENDOR / "lock.json"
DEFAULT_SOURCE = "https://github.com/{repo}.git"
_PINNED = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)((?:/[\w.-]+)*)@([0-9a-f]{40})\s*#\s*(\S+)")
_ANY_USES = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w.-]+)")
# act never runs these (their steps carry `if: ... !env.ACT`): they only talk to GitHub's
# API. Only their action.yml is kept; their bundles are large and change every release.
METADATA_ONLY = {
    "actions/upload-artifact": "uploads to GitHub's artifact service",
    "github/codeql-action": "uploads SARIF to GitHub code scanning",
}


@dataclass(frozen=True)
class Pin:
    """One ``uses: owner/repo[/path]@<sha> # <tag>`` line of a workflow."""

    repo: str
    path: str
    commit: str
    tag: str
    where: str  # workflow file and line, for messages


def pins(workflow_dir: Path = WORKFLOWS) -> list[Pin]:
    """Every pinned action of the workflows; an unpinned ``uses:`` is an error."""
    found: list[Pin] = []
    for wf in sorted(workflow_dir.glob("*.y*ml")):
        for number, line in enumerate(wf.read_text().splitlines(), start=1):
            where = f"{wf.name}:{number}"
            if m := _PINNED.search(line):
                repo, sub, sha, tag = m.groups()
                found.append(Pin(repo, sub.strip("/"), sha, tag, where))
            elif (m := _ANY_USES.match(line)) and not m.group(1).startswith("./"):
                raise XorbError(f"{where}: `{line.strip()}` is not pinned as <40-hex sha> # <tag>.")
    return found


def blob_id(data: bytes) -> str:
    """Git's blob id of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def read_lock(lock: Path = LOCK) -> dict[str, dict[str, object]]:
    """The lock: repo -> tag, commit, paths, metadata-only reason, files (path -> blob id)."""
    try:
        data = json.loads(lock.read_text())
    except (OSError, ValueError) as exc:
        raise XorbError(
            f"{lock} is unreadable ({exc.__class__.__name__}): run `inv workflows.refresh-actions`."
        ) from None
    if not isinstance(data, dict):
        raise XorbError(f"{lock} is not a JSON object: run `inv workflows.refresh-actions`.")
    return data


def verify(workflow_dir: Path = WORKFLOWS, vendor: Path = VENDOR) -> list[str]:
    """Problems between the workflows' pins, the lock and the copied files (empty: all good)."""
    lock = read_lock(vendor / "lock.json")
    problems: list[str] = []
    used: set[str] = set()
    for pin in pins(workflow_dir):
        used.add(pin.repo)
        entry = lock.get(pin.repo)
        if entry is None:
            problems.append(f"{pin.where}: {pin.repo} has no local copy")
            continue
        if (entry.get("commit"), entry.get("tag")) != (pin.commit, pin.tag):
            problems.append(
                f"{pin.where}: {pin.repo}@{pin.commit[:12]} # {pin.tag}, but {pin.tag} is "
                f"{str(entry.get('commit'))[:12]} in the copy (tag {entry.get('tag')})"
            )
        paths = entry.get("paths")
        if not isinstance(paths, list) or pin.path not in paths:
            problems.append(f"{pin.where}: {pin.repo}/{pin.path} is not in the copy")
    for repo, entry in sorted(lock.items()):
        if repo not in used:
            problems.append(f"{repo} is copied but no workflow uses it")
        files = entry.get("files")
        if not isinstance(files, dict) or not files:
            problems.append(f"{repo}: the lock lists no files")
            continue
        for name, expected in sorted(files.items()):
            path = vendor / repo / name
            if not path.is_file():
                problems.append(f"{repo}: {name} is missing")
            elif blob_id(path.read_bytes()) != expected:
                problems.append(f"{repo}: {name} differs from {entry.get('tag')}'s")
        extra = {
            str(p.relative_to(vendor / repo)) for p in (vendor / repo).rglob("*") if p.is_file()
        } - set(files)
        problems += [f"{repo}: {name} is not in the lock" for name in sorted(extra)]
    return problems


def local_repositories(vendor: Path = VENDOR) -> list[str]:
    """act's ``--local-repository`` values: ``owner/repo@<sha>=<folder>`` for each copy."""
    lock = read_lock(vendor / "lock.json")
    return [f"{repo}@{entry['commit']}={vendor / repo}" for repo, entry in sorted(lock.items())]


# ----------------------------------------------------------------------------- refresh


def _git(git_dir: Path, *args: str) -> bytes:
    out = subprocess.run(["git", "-C", str(git_dir), *args], capture_output=True, check=False)
    if out.returncode != 0:
        detail = out.stderr.decode(errors="replace").strip()
        raise XorbError(f"git {' '.join(args)} failed in {git_dir}: {detail}")
    return out.stdout


def _fetch(repo: str, source: str, into: Path) -> Path:
    where = source.format(repo=repo, repo_dir=repo.replace("/", "+"))
    if Path(where).is_dir():
        return Path(where)
    target = into / repo.replace("/", "+")
    clone = ["git", "clone", "--quiet", "--bare", "--filter=blob:none", where, str(target)]
    if subprocess.run(clone, capture_output=True, check=False).returncode != 0:
        raise XorbError(f"Cannot fetch {repo} from {where}: is the network or --source right?")
    return target


def _action_files(git_dir: Path, commit: str, sub: str, metadata_only: bool) -> list[str]:
    """What a runner reads of the action at ``sub``: its metadata, its scripts' folders."""
    base = f"{sub}/" if sub else ""
    listing = _git(git_dir, "ls-tree", "-r", "--name-only", commit).decode().splitlines()
    names = (f"{base}action.yml", f"{base}action.yaml")
    meta = next((n for n in names if n in listing), None)
    if meta is None:
        raise XorbError(f"{git_dir.name}@{commit}: no action.yml under '{sub or '.'}'.")
    wanted = {meta} | {f for f in listing if re.fullmatch(r"LICEN[CS]E(\.\w+)?", f)}
    if not metadata_only:
        text = _git(git_dir, "show", f"{commit}:{meta}").decode()
        for key in ("main", "pre", "post"):
            if m := re.search(rf"^\s+{key}:\s*['\"]?([^'\"\s]+)", text, re.M):
                folder = str(Path(base + m.group(1)).parent)
                wanted |= {f for f in listing if f.startswith(folder + "/")}
    return sorted(wanted)


def refresh(
    source: str = DEFAULT_SOURCE, vendor: Path = VENDOR, workflow_dir: Path = WORKFLOWS
) -> list[str]:
    """Copy every pinned action at its commit into ``vendor`` and write the lock.

    Fails before writing anything when a tag does not name its pinned commit. Returns one
    line per action.
    """
    by_repo: dict[str, list[Pin]] = {}
    for pin in pins(workflow_dir):
        by_repo.setdefault(pin.repo, []).append(pin)
    lock: dict[str, object] = {}
    lines: list[str] = []
    copies: dict[str, dict[str, bytes]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repo, repo_pins in sorted(by_repo.items()):
            first = repo_pins[0]
            if any((p.commit, p.tag) != (first.commit, first.tag) for p in repo_pins):
                raise XorbError(f"{repo} is pinned to more than one commit or tag.")
            git_dir = _fetch(repo, source, Path(tmp))
            tagged = _git(git_dir, "rev-parse", f"refs/tags/{first.tag}^{{commit}}").decode()
            if tagged.strip() != first.commit:
                raise XorbError(
                    f"{first.where}: {repo}@{first.commit} is not {first.tag}, which is "
                    f"{tagged.strip()}: pin the tag's commit."
                )
            files: dict[str, bytes] = {}
            paths = sorted({p.path for p in repo_pins})
            for sub in paths:
                for name in _action_files(git_dir, first.commit, sub, repo in METADATA_ONLY):
                    files[name] = _git(git_dir, "show", f"{first.commit}:{name}")
            copies[repo] = files
            lock[repo] = {
                "tag": first.tag,
                "commit": first.commit,
                "paths": paths,
                "metadata-only": METADATA_ONLY.get(repo, ""),
                "files": {name: blob_id(data) for name, data in sorted(files.items())},
            }
            lines.append(f"{repo}@{first.tag} = {first.commit[:12]} ({len(files)} files)")
    shutil.rmtree(vendor, ignore_errors=True)
    for repo, files in copies.items():
        for name, data in files.items():
            out = vendor / repo / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
    (vendor / "lock.json").write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    return lines
