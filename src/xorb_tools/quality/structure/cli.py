"""``python -m xorb_tools.quality.structure`` / ``python test_containers.py``: run and print
the suite."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from xorb_tools.core.errors import XorbError
from xorb_tools.quality.structure.base import HEADER, RULE, Result, parse_budgets, summary_lines
from xorb_tools.quality.structure.categories import CATEGORIES
from xorb_tools.quality.structure.context import Context, Options

# ----------------------------------------------------------------------------- runner


def run_all(ctx: Context, out: Callable[[str], None] = print) -> list[Result]:
    """Run every category in order, printing as the guide does; the results."""
    out(HEADER)
    out(RULE)
    results: list[Result] = []
    for check in CATEGORIES:
        out(f"🧪 Running: {check.name}")
        results.append(check(ctx))
        out("")
    for line in summary_lines(results):
        out(line)
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m xorb_tools.quality.structure",
        description="The XORB container test suite (eight categories against real images).",
    )
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME",
        help="check only this service (repeatable; default: every service of the table)",
    )
    parser.add_argument(
        "--image-tag",
        default="production",
        metavar="TAG",
        help="the tag of each selected service's image to check (default: production)",
    )
    parser.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="SERVICE=MB",
        help="override a service's size budget in MB (repeatable)",
    )
    parser.add_argument(
        "--skip-build",
        action="store_true",
        help="do not build: only check that the images of every target exist",
    )
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        services=tuple(args.service),
        image_tag=args.image_tag,
        budgets=parse_budgets(args.budget),
        skip_build=args.skip_build,
    )


def _print(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: 0 when all eight categories pass, 1 when any fails, 2 on bad usage."""
    args = parse_args(argv)
    try:
        options = options_from(args)
        with Context(options, echo=_print) as ctx:
            results = run_all(ctx, _print)
    except XorbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
