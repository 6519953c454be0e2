"""``python -m api``: uvicorn with reload in development, gunicorn everywhere else.

gunicorn runs in this very process (no exec): the configuration is loaded once, and this
process - the one dumb-init forwards SIGTERM to - is gunicorn's master.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.config_manager import load_or_exit

if TYPE_CHECKING:
    from common.settings import XorbConfig

GUNICORN_CONFIG = "python:api.gunicorn_conf"


def gunicorn_application(config: XorbConfig) -> Any:
    """gunicorn's application: settings from ``api.gunicorn_conf`` then ``GUNICORN_CMD_ARGS``
    (as the ``gunicorn`` command applies them), the app built from ``config``."""
    from gunicorn.app.base import Application

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
