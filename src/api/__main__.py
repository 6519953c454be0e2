"""``python -m api``: uvicorn with reload in development, gunicorn everywhere else.

gunicorn runs in this very process (no exec): the configuration is loaded once, and this
process - the one dumb-init forwards SIGTERM to - is gunicorn's master.

``DRAIN_SECONDS`` (default 0): after SIGTERM the master waits this long, the workers still
accepting and serving, before gunicorn's graceful stop. Swarm takes a task out of its DNS
only 2 s before it signals the task, and a proxy that resolved the service earlier (nginx
holds addresses for its resolver's ``valid=`` time) may still send new connections to it:
they must find a listening replica, not a closed port or a vanished address.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.config_manager import load_or_exit

if TYPE_CHECKING:
    from common.settings import XorbConfig

GUNICORN_CONFIG = "python:api.gunicorn_conf"
DRAIN_ENV = "DRAIN_SECONDS"


def drain_seconds() -> float:
    """How long the master keeps serving after SIGTERM (``DRAIN_SECONDS``, 0: not at all)."""
    raw = os.environ.get(DRAIN_ENV, "").strip() or "0"
    try:
        seconds = float(raw)
    except ValueError:
        raise SystemExit(f"{DRAIN_ENV} must be a number of seconds, not {raw!r}.") from None
    return max(seconds, 0.0)


def draining_arbiter(seconds: float) -> Any:
    """gunicorn's arbiter, with SIGTERM delayed by ``seconds`` (SIGINT and SIGQUIT are not)."""
    from gunicorn.arbiter import Arbiter

    class DrainingArbiter(Arbiter):  # type: ignore[misc]
        def handle_term(self) -> None:
            if seconds > 0:
                self.log.info("SIGTERM: still serving for %gs (drain), then stopping", seconds)
                deadline = time.monotonic() + seconds
                while (left := deadline - time.monotonic()) > 0:
                    time.sleep(min(left, 0.5))
                    self.reap_workers()
                    self.manage_workers()  # a worker lost while draining is replaced
            super().handle_term()

    return DrainingArbiter


def gunicorn_application(config: XorbConfig) -> Any:
    """gunicorn's application: settings from ``api.gunicorn_conf`` then ``GUNICORN_CMD_ARGS``
    (as the ``gunicorn`` command applies them), the app built from ``config``."""
    from gunicorn.app.base import Application

    drain = drain_seconds()

    class XorbApi(Application):  # type: ignore[misc]
        def load_config(self) -> None:
            self.load_config_from_module_name_or_filename(GUNICORN_CONFIG)
            env_args = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
            for key, value in vars(env_args).items():
                if value is not None and key != "args":
                    self.cfg.set(key.lower(), value)

        def load(self) -> Any:
            from api.app import create_app

            return create_app(config)

        def run(self) -> None:  # BaseApplication.run, with the draining arbiter
            try:
                draining_arbiter(drain)(self).run()
            except RuntimeError as error:
                raise SystemExit(f"Error: {error}") from None

    return XorbApi(prog="xorb-api")


def main() -> None:
    config = load_or_exit()  # a bad configuration stops here, in one line
    os.environ.setdefault("API_PORT", str(config.api_service.port))
    if config.env == "development":
        import uvicorn

        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host="0.0.0.0",  # noqa: S104 - inside a container
            port=config.api_service.port,
            reload=True,
            reload_dirs=[str(Path(__file__).resolve().parent.parent)],
            log_config=None,
        )
        return
    gunicorn_application(config).run()


if __name__ == "__main__":
    main()
