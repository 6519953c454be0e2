"""``uv run python -m bench [--quick] [--runs N] [--output PATH]``: ``inv bench`` without invoke."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xorb_tools.bench import report, runner
from xorb_tools.bench import settings as bench_settings
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import ROOT


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the JSON and markdown reports."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run of each figure")
    parser.add_argument("--runs", type=int, default=0, help="cold rounds (default 2; 1 quick)")
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "bench.json")
    parser.add_argument("--ca-cert", default=None, help="CA bundle for a TLS-intercepting proxy")
    args = parser.parse_args(argv)
    try:
        settings = bench_settings.Settings.for_mode(args.quick, args.runs, args.ca_cert)
        figures, meta = runner.run(ROOT, settings, print)
        print(report.write(figures, meta, args.output.resolve()))
    except XorbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
