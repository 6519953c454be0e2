"""``inv security-scan``: trivy over the service images and the Dockerfiles, hadolint over
every Dockerfile, one summary, reports a CI system can read.

What runs, and what it writes under ``reports/security/``:

- per image (``xorb/<svc>:<tag>``): one ``trivy image`` for vulnerabilities, secrets,
  misconfigurations (the image config's history as well as config files in the image) and
  licenses -> ``<svc>-<tag>.json``, converted (no second scan) to ``.sarif`` and a CycloneDX
  SBOM ``.cdx.json``. The image is read from the local engine (``--image-src docker``: the
  Engine API's image export, which works under the containerd image store too, so no
  registry and no ``docker save`` tar are needed);
- per config directory (``docker/``, ``compose/`` when present): ``trivy config``;
- per config directory: hadolint over its Dockerfiles (``.hadolint.yaml`` applies).

Gates (what makes the scan fail): vulnerabilities and misconfigurations at or above the
``--severity`` threshold; every secret, whatever trivy's severity; licenses only when
trivy calls them forbidden (CRITICAL) - the GPL of Debian's own packages is "restricted"
(HIGH) and expected in a Debian-based image; hadolint at ``warning`` or ``error`` (the
repository's ``failure-threshold``). A vulnerability scan that could not run (no database)
fails the scan unless ``skip_vuln``; it is never reported as "no vulnerabilities".

Accepted findings live in trivy's own ignore file, ``.trivyignore.yaml`` (sections
``vulnerabilities``, ``misconfigurations``, ``secrets``, ``licenses``; trivy reads it as
``--ignorefile``). This repository asks more of each entry than trivy does: a
``statement`` (why it is accepted) and an ``expired_at`` date, and an expired entry fails
the scan before it starts (trivy alone would quietly stop honouring it). hadolint rules are
accepted where hadolint reads them: ``# hadolint ignore=`` at the line, or ``.hadolint.yaml``.

Modules: :mod:`~.tools`, :mod:`~.ignores`, :mod:`~.findings` (pure), :mod:`~.db`,
:mod:`~.scanning`. The package re-exports their public names.
"""

from xorb_tools.quality.scan.db import DB_DOWNLOAD_TIMEOUT_S as DB_DOWNLOAD_TIMEOUT_S
from xorb_tools.quality.scan.db import VulnDb as VulnDb
from xorb_tools.quality.scan.db import db_metadata as db_metadata
from xorb_tools.quality.scan.db import no_db_remedy as no_db_remedy
from xorb_tools.quality.scan.db import prepare_db as prepare_db
from xorb_tools.quality.scan.findings import DEFAULT_SEVERITY as DEFAULT_SEVERITY
from xorb_tools.quality.scan.findings import HADOLINT_FAILING as HADOLINT_FAILING
from xorb_tools.quality.scan.findings import HADOLINT_LEVELS as HADOLINT_LEVELS
from xorb_tools.quality.scan.findings import IMAGE_SCANNERS as IMAGE_SCANNERS
from xorb_tools.quality.scan.findings import SEVERITIES as SEVERITIES
from xorb_tools.quality.scan.findings import Finding as Finding
from xorb_tools.quality.scan.findings import ScannerResult as ScannerResult
from xorb_tools.quality.scan.findings import Status as Status
from xorb_tools.quality.scan.findings import blocking as blocking
from xorb_tools.quality.scan.findings import failure_message as failure_message
from xorb_tools.quality.scan.findings import hadolint_findings as hadolint_findings
from xorb_tools.quality.scan.findings import merge_sarif as merge_sarif
from xorb_tools.quality.scan.findings import parse_severity as parse_severity
from xorb_tools.quality.scan.findings import summary_json as summary_json
from xorb_tools.quality.scan.findings import summary_rows as summary_rows
from xorb_tools.quality.scan.findings import trivy_findings as trivy_findings
from xorb_tools.quality.scan.ignores import IGNORE_FILE as IGNORE_FILE
from xorb_tools.quality.scan.ignores import IGNORE_SECTIONS as IGNORE_SECTIONS
from xorb_tools.quality.scan.ignores import IgnoreEntry as IgnoreEntry
from xorb_tools.quality.scan.ignores import live_entries as live_entries
from xorb_tools.quality.scan.ignores import load_ignore as load_ignore
from xorb_tools.quality.scan.ignores import parse_ignore as parse_ignore
from xorb_tools.quality.scan.scanning import CONFIG_DIRS as CONFIG_DIRS
from xorb_tools.quality.scan.scanning import DEFAULT_CACHE as DEFAULT_CACHE
from xorb_tools.quality.scan.scanning import DOCKERFILE_NAME as DOCKERFILE_NAME
from xorb_tools.quality.scan.scanning import Options as Options
from xorb_tools.quality.scan.scanning import Outcome as Outcome
from xorb_tools.quality.scan.scanning import dockerfiles as dockerfiles
from xorb_tools.quality.scan.scanning import require_engine as require_engine
from xorb_tools.quality.scan.scanning import run as run
from xorb_tools.quality.scan.scanning import scan_config as scan_config
from xorb_tools.quality.scan.scanning import scan_hadolint as scan_hadolint
from xorb_tools.quality.scan.scanning import scan_image as scan_image
from xorb_tools.quality.scan.tools import TRIVY_TIMEOUT_S as TRIVY_TIMEOUT_S
from xorb_tools.quality.scan.tools import tool_path as tool_path
from xorb_tools.quality.scan.tools import trivy_path as trivy_path
from xorb_tools.quality.scan.tools import trivy_version as trivy_version
