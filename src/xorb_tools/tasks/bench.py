"""``inv bench``: the benchmark of issue 10 (a measurement, never a pass/fail test)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from xorb_tools.tasks._util import lazy

if TYPE_CHECKING:
    from xorb_tools.bench import report, runner
    from xorb_tools.bench import settings as bench_settings
else:  # loaded when a task runs, not for `inv --list` (start-up cost)
    report = lazy("xorb_tools.bench.report")
    runner = lazy("xorb_tools.bench.runner")
    bench_settings = lazy("xorb_tools.bench.settings")
from xorb_tools.core.services import ROOT
from xorb_tools.tasks._util import console, user_errors


@task(
    help={
        "quick": "one run of each figure (the CI smoke check that the runner works)",
        "runs": "cold rounds (default 2, or 1 with --quick); each adds ~8 min on 2 cores",
        "output": "JSON report path; the markdown table goes beside it (.md)",
        "ca_cert": "PEM bundle pip trusts inside the build, in place of the public roots: the "
        "proxy's CA, plus the roots if needed (default PIP_CERT, SSL_CERT_FILE, ...)",
    },
)
@user_errors
def bench(
    c: Context,
    quick: bool = False,
    runs: int = 0,
    output: str = "reports/bench.json",
    ca_cert: str | None = None,
) -> None:
    """Benchmark builds, caches, sizes and startup against the naive baseline."""
    settings = bench_settings.Settings.for_mode(quick, runs, ca_cert)
    figures, meta = runner.run(ROOT, settings, console.print)
    out = Path(output) if Path(output).is_absolute() else ROOT / output
    console.print(report.write(figures, meta, out), markup=False)
    console.print(f"Wrote {out} and {out.with_suffix('.md')}")
