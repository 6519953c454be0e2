"""``inv size-report``: what each production image weighs, where the bytes are, and whether
it fits its budget.

Two measures, always named: *uncompressed* is the sum of the unpacked layer sizes
(``docker history``; what the image takes on disk, and what the budgets in the service
table limit); *compressed* is the content size under the containerd image store (what a
registry transfers). Layers are identified by diff id, so the bytes shared between images
are counted once in "all images together on disk". dive adds its efficiency score and the
bytes wasted by files that later layers overwrite or delete.

Written under ``reports/``: ``size-report.json`` (also the baseline the next run compares
with), ``size-report.md`` and ``size-report.svg`` (sizes against budgets). ``--release V
--registry R`` adds the pushed release: each platform's compressed size (arm64 too) and the
bytes its provenance and SBOM attestations add.

Modules: :mod:`~.model` and :mod:`~.render` (pure), :mod:`~.measuring` (engine). The
package re-exports their public names.
"""

from xorb_tools.quality.sizereport.measuring import budget_failure as budget_failure
from xorb_tools.quality.sizereport.measuring import build as build
from xorb_tools.quality.sizereport.measuring import load_previous as load_previous
from xorb_tools.quality.sizereport.measuring import measure as measure
from xorb_tools.quality.sizereport.measuring import run_dive as run_dive
from xorb_tools.quality.sizereport.measuring import write as write
from xorb_tools.quality.sizereport.model import DIVE_TIMEOUT_S as DIVE_TIMEOUT_S
from xorb_tools.quality.sizereport.model import EMPTY_LAYER as EMPTY_LAYER
from xorb_tools.quality.sizereport.model import GUIDE_AFTER as GUIDE_AFTER
from xorb_tools.quality.sizereport.model import GUIDE_BEFORE as GUIDE_BEFORE
from xorb_tools.quality.sizereport.model import MB as MB
from xorb_tools.quality.sizereport.model import REPORT_JSON as REPORT_JSON
from xorb_tools.quality.sizereport.model import SCHEMA as SCHEMA
from xorb_tools.quality.sizereport.model import ImageSize as ImageSize
from xorb_tools.quality.sizereport.model import LayerSize as LayerSize
from xorb_tools.quality.sizereport.model import Published as Published
from xorb_tools.quality.sizereport.model import Report as Report
from xorb_tools.quality.sizereport.model import deltas as deltas
from xorb_tools.quality.sizereport.model import dive_summary as dive_summary
from xorb_tools.quality.sizereport.model import instruction as instruction
from xorb_tools.quality.sizereport.model import over_budget as over_budget
from xorb_tools.quality.sizereport.model import pair_layers as pair_layers
from xorb_tools.quality.sizereport.model import parse_budgets as parse_budgets
from xorb_tools.quality.sizereport.model import previous_sizes as previous_sizes
from xorb_tools.quality.sizereport.model import share as share
from xorb_tools.quality.sizereport.render import markdown as markdown
from xorb_tools.quality.sizereport.render import svg_chart as svg_chart
from xorb_tools.quality.sizereport.render import to_json as to_json
