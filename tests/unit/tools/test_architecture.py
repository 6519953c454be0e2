"""The tree shows the architecture: capability packages in layers (import-linter's contract
in pyproject.toml), no import cycle between modules, and no module over 300 lines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

from xorb_tools.core.services import ROOT

PACKAGE = ROOT / "src" / "xorb_tools"
LIMIT = 300


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_is_over_the_limit() -> None:
    sizes = {str(p.relative_to(PACKAGE)): _lines(p) for p in PACKAGE.rglob("*.py")}
    over = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not over, f"modules over {LIMIT} lines (split them along their banners): {over}"


def test_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph("xorb_tools")
    cycles = sorted(
        (a, b)
        for a in graph.modules
        for b in graph.find_modules_directly_imported_by(a)
        if a < b and graph.chain_exists(importer=b, imported=a)
    )
    assert not cycles, f"import cycles (a function-local import hides one too): {cycles}"


def test_the_layers_contract_holds() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " kept, 0 broken" in proc.stdout, proc.stdout[-2000:]
