"""``python -m common.db migrate``: the one-shot migration step compose runs first."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from common.config_manager import load_or_exit
from common.log import configure_logging, get_logger, redact


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["migrate"]:
        print("usage: python -m common.db migrate", file=sys.stderr)
        return 2
    config = load_or_exit()
    configure_logging("migrate", config.logging.level, config.logging.format)
    from common.db.migrate import upgrade

    try:
        vector = upgrade(config.database.get_url())
    except Exception as exc:
        # One line; the database URL is never part of it (the redactor masks it anyway).
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        first = detail[0] if detail else ""
        print(redact(f"migrate failed: {type(exc).__name__}: {first}"), file=sys.stderr)
        return 1
    get_logger("migrate").info(
        "database migrated", target=config.database.safe_url(), pgvector=vector
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
