"""``inv config.validate ENV``: check an environment's configuration without starting anything."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from xorb_tools.core import services
from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools.deploy import stack
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    stack = lazy("xorb_tools.deploy.stack")
from xorb_tools.core.errors import XorbError
from xorb_tools.tasks._util import console, user_errors


@task(
    help={
        "environment": "development | staging | production | test",
        "secrets_dir": "directory of Docker secret files (default: secrets/ in the repository)",
    }
)
@user_errors
def validate(c: Context, environment: str, secrets_dir: str | None = None) -> None:
    """Validate ENV's configuration (config files, variables, secrets); one line per problem."""
    project = services.load()
    project.check_environment(environment)
    folder = Path(secrets_dir) if secrets_dir else project.root / "secrets"
    if secrets_dir and not folder.is_dir():
        raise XorbError(f"Secrets directory {folder} does not exist: run `inv secrets.init`.")
    from common.config_manager import ConfigError, build_config

    # One report: the compose stack (when the environment has one), its secret files, then
    # the config manager's own checks.
    problems = [f"compose: {p}" for p in stack.validate(environment, folder)]
    try:
        build_config(environment, secrets_dir=folder)
    except ConfigError as exc:
        problems += exc.problems
    for problem in problems:
        console.print(f"{environment}: {problem}")
    if problems:
        count = len(problems)
        raise Exit(f"error: {environment} configuration has {count} problem(s).", 1) from None
    console.print(f"{environment}: configuration is valid")
