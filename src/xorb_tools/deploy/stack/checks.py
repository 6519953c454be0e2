"""Checks before anything starts: the rendered configuration, the secret files it mounts,
known service names, and ``inv config.validate``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from xorb_tools.core import engine
from xorb_tools.core.errors import XorbError
from xorb_tools.deploy import secrets_init
from xorb_tools.deploy.stack.config import GRAFANA, ROOT, Stack, open_stack


def render(stack: Stack) -> dict[str, Any]:
    """``docker compose config`` as a dict; a broken compose file is one XorbError."""
    engine.compose_version()  # no compose plugin: say so, not "unknown flag: --file"
    with engine.docker_errors(f"Validating {stack.file.relative_to(ROOT)} (docker compose config)"):
        config = stack.docker.compose.config(return_json=True)
    if not isinstance(config, dict):
        raise XorbError(f"docker compose config returned no configuration for {stack.file}.")
    return config


def secret_files(config: Mapping[str, Any]) -> dict[str, Path]:
    """``{secret name: host file}`` of a rendered configuration."""
    out: dict[str, Path] = {}
    for name, spec in (config.get("secrets") or {}).items():
        if isinstance(spec, dict) and spec.get("file"):
            out[str(name)] = Path(str(spec["file"]))
    return out


def preflight(stack: Stack) -> dict[str, Any]:
    """Validate the compose file and the secret files it mounts; return the configuration."""
    config = render(stack)
    absent = secrets_init.missing(secret_files(config))
    if absent:
        raise XorbError(
            f"The {stack.environment} stack needs secret file(s) {', '.join(absent)} in "
            f"{stack.variables['XORB_SECRETS']}: run "
            f"`uv run inv secrets.init --environment {stack.environment}`."
        )
    return config


def check_services(config: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """``names`` if every one is a service of the stack, else one sentence."""
    known = sorted((config.get("services") or {}).keys())
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise XorbError(
            f"Unknown service(s) {', '.join(unknown)}: the stack has {', '.join(known)}."
        )
    return wanted


def validate(environment: str, secrets_dir: str | Path | None = None) -> list[str]:
    """Problems of ``environment``'s compose stack (``inv config.validate``), one line each.

    Empty when it is fine or when the environment has no compose stack; a compose file that
    does not render and missing secret files are each one line.
    """
    try:
        stack = open_stack(environment, secrets_dir=secrets_dir, resolve_images=False)
    except XorbError:
        return []  # no compose file for this environment (checked by check_environment)
    stack.profiles.append(GRAFANA)
    try:
        config = render(stack)
    except XorbError as exc:
        return [" ".join(line.strip() for line in str(exc).splitlines())]
    folder = stack.variables["XORB_SECRETS"]
    files = secret_files(config)
    absent = secrets_init.missing(files)
    problems = [
        f"secret file {name} is missing from {folder}: run "
        f"`uv run inv secrets.init --environment {environment}`"
        for name in absent
    ]
    # The stack's own secrets (TLS pair, Grafana) by their rules; the application secrets
    # are the config manager's (build_config), so each problem is reported once.
    from common import secret_rules

    rules = secret_rules.load()
    for name, path in files.items():
        rule = rules.secrets.get(name)
        if name in absent or rule is None or rule.setting is not None:
            continue
        problem = rules.problem(rule, path.read_text(encoding="utf-8"), environment)
        if problem:
            problems.append(f"{problem} ({path})")
    return problems
