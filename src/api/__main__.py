"""``python -m api``: uvicorn with reload in development, gunicorn everywhere else."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common.config_manager import load_or_exit


def main() -> None:
    config = load_or_exit()  # a bad configuration stops here, in one line
    port = str(config.api_service.port)
    os.environ.setdefault("API_PORT", port)
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
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:api.gunicorn_conf",
        "api.app:create_app()",
    ]
    os.execvp(argv[0], argv)  # noqa: S606 - replaces this process: gunicorn gets the signals


if __name__ == "__main__":
    main()
