"""``python -m worker``: the RQ worker service."""

from __future__ import annotations

from common.config_manager import load_or_exit
from common.log import configure_logging


def main() -> int:
    config = load_or_exit()
    configure_logging("worker", config.logging.level, config.logging.format)
    from worker.supervisor import Supervisor

    return Supervisor(config).run()


if __name__ == "__main__":
    raise SystemExit(main())
