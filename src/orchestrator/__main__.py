"""``python -m orchestrator``: the Temporal worker service."""

from __future__ import annotations

import asyncio
import sys

from common.config_manager import load_or_exit
from common.log import configure_logging, get_logger


def main() -> int:
    config = load_or_exit()
    configure_logging("orchestrator", config.logging.level, config.logging.format)
    from orchestrator.service import serve

    try:
        return asyncio.run(serve(config))
    except ConnectionError as exc:
        get_logger("orchestrator").error("startup failed", error=str(exc))
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
