"""Deploy tasks: ``inv deploy`` (the collection's default), ``deploy.history``, ``rollback``
and ``test``. Every deploy and rollback that got past its input checks is one record in the
deploy log (:mod:`xorb_tools.deploy.deploylog`), whatever its outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from xorb_tools.core import services
from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools import build as build_mod
    from xorb_tools.deploy import deploylog, smoke
    from xorb_tools.deploy import strategy as strategy_mod
    from xorb_tools.supply import verify as checks
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    build_mod = lazy("xorb_tools.build")
    deploylog = lazy("xorb_tools.deploy.deploylog")
    smoke = lazy("xorb_tools.deploy.smoke")
    strategy_mod = lazy("xorb_tools.deploy.strategy")
    checks = lazy("xorb_tools.supply.verify")
from xorb_tools.tasks._util import console, table, user_errors

ENV_HELP = "staging | production (the stacks in compose/; development works too)"
SECRETS_HELP = "folder of secret files (default: secrets/ in the repository)"


def _show(result: strategy_mod.Result) -> None:
    table(result.title, list(result.columns), result.rows)


@task(
    auto_shortflags=False,
    help={
        "environment": ENV_HELP,
        "strategy": "recreate (default: compose up --wait of the whole stack) | blue-green "
        "(API beside the live one, then switch nginx)",
        "engine": "compose (default, this host) | swarm (docker stack deploy, rolling update)",
        "version": "image tag to deploy (xorb/api:VERSION; blue-green and swarm need it)",
        "timeout": "seconds to wait for healthy services (default 300)",
        "drain": "blue-green: seconds between the switch and stopping the old colour (default 10)",
        "secrets_dir": SECRETS_HELP,
        "registry": "registry the release is in (default the table's, localhost:5000): "
        "--verify checks it there; a swarm of more than one node pulls from it by digest",
        "verify": "deploy only a release that `inv verify` passes (needs --version): its "
        "images are pulled by the verified digests first",
        "key": "with --verify: the public key (default secrets/signing/cosign.pub)",
    },
)
@user_errors
def deploy(
    c: Context,
    environment: str = "production",
    strategy: str = "recreate",
    engine: str = "compose",
    version: str | None = None,
    timeout: int = 300,  # stack.WAIT_TIMEOUT (a literal: test_task_start checks it)
    drain: int = 10,  # deploy.bluegreen.DRAIN_SECONDS
    secrets_dir: str | None = None,
    registry: str | None = None,
    verify: bool = False,
    key: str | None = None,
) -> None:
    """Deploy an environment (recreate, blue-green or a swarm rolling update) and log it."""
    if verify:
        key_path = Path(key) if key else None
        console.print(checks.verified_release(services.load(), version, registry, key_path))
        registry = registry if engine == "swarm" else None
    _show(
        strategy_mod.deploy(
            environment,
            strategy=strategy,
            engine_name=engine,
            version=version,
            timeout=timeout,
            drain=drain,
            secrets_dir=secrets_dir,
            registry=registry,
            build=build_mod.build_environment,
            say=console.print,
        )
    )


@task(help={"environment": "only this environment's deploys (default: all)"})
@user_errors
def history(c: Context, environment: str | None = None) -> None:
    """Print the deploy log: time, environment, strategy, engine, version, digests, outcome."""
    if environment is not None:
        services.load().check_environment(environment)
    records = deploylog.read(environment)
    table(
        f"Deploy history ({deploylog.log_path()})",
        ["time", "environment", "strategy", "engine", "version", "digests", "outcome", "detail"],
        [
            (
                r.time,
                r.environment,
                r.strategy,
                r.engine,
                r.version,
                " ".join(
                    f"{k.split('/')[-1]}@{v.removeprefix('sha256:')[:12]}"
                    for k, v in r.digests.items()
                )
                or "-",
                r.outcome,
                r.detail or "-",
            )
            for r in records
        ]
        or [("-",) * 8],
    )


@task(
    auto_shortflags=False,
    help={
        "environment": ENV_HELP,
        "timeout": "seconds the previous colour gets to become healthy (default 120)",
        "drain": "seconds between the switch and stopping the current colour (default 10)",
        "secrets_dir": SECRETS_HELP,
    },
)
@user_errors
def rollback(
    c: Context,
    environment: str = "production",
    timeout: int = 120,  # deploy.bluegreen.TIMEOUT
    drain: int = 10,  # deploy.bluegreen.DRAIN_SECONDS
    secrets_dir: str | None = None,
) -> None:
    """Switch a blue-green environment back to the previous colour (while it exists)."""
    _show(strategy_mod.rollback(environment, timeout, drain, secrets_dir))


@task(name="test", help={"environment": ENV_HELP, "secrets_dir": SECRETS_HELP})
@user_errors
def smoke_test(c: Context, environment: str = "staging", secrets_dir: str | None = None) -> None:
    """Smoke-test a deployed environment through its nginx: health, ready, a job round trip."""
    services.load().check_environment(environment)
    results = smoke.run(environment, secrets_dir)
    table(
        f"Smoke test of {environment}",
        ["check", "result", "detail"],
        [(r.name, "ok" if r.ok else "FAILED", r.detail) for r in results],
    )
    smoke.failed(results)


def collection() -> Collection:
    """``deploy`` (default task: the deploy itself) and ``deploy.history``."""
    ns = Collection("deploy")
    ns.add_task(deploy, default=True)
    ns.add_task(history)
    return ns
