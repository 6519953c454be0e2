"""secrets/manifest.toml names exactly the secrets the config manager reads."""

from __future__ import annotations

import tomllib

from common.config_manager import SECRETS
from xorb_tools.services import ROOT


def test_manifest_matches_the_config_manager() -> None:
    manifest = tomllib.loads((ROOT / "secrets" / "manifest.toml").read_text())["secrets"]
    assert set(manifest) == {spec.name for spec in SECRETS}
    for spec in SECRETS:
        if spec.required_in_production:
            assert "production" in manifest[spec.name]["environments"], spec.name
        assert manifest[spec.name]["min-length"] >= spec.min_length


def test_secret_files_are_never_tracked() -> None:
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "secrets/*" in ignore and "!secrets/manifest.toml" in ignore
