"""The API image has no Temporal SDK: ``api`` and ``common`` must work without it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NoTemporal(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "temporalio" or name.startswith("temporalio."):
                raise ImportError(f"{name} is not installed in the API image")
            return None

    sys.meta_path.insert(0, NoTemporal())

    import api.__main__
    import api.app
    import common.config_manager
    import common.db
    import common.health
    from fastapi.testclient import TestClient

    app = api.app.create_app()
    with TestClient(app) as client:  # the lifespan builds the real gateways
        assert client.get("/health").status_code == 200
        response = client.post("/workflows", json={"text": "x"})
        assert response.status_code == 503, response.text
        assert response.json() == {"detail": "orchestrator unavailable"}
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("temporalio", "orchestrator"))
    assert not loaded, loaded
    print("no temporalio")
    """
)


def test_api_and_common_import_and_run_without_temporalio(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XORB_", "ORCHESTRATOR_", "API_", "REDIS_", "DATABASE_"))
    }
    env.update(
        XORB_ENV="test",
        XORB_SECRETS_DIR=str(tmp_path),
        API_RATE_LIMIT_STORAGE="memory://",
        ORCHESTRATOR_URL="http://127.0.0.1:1",  # nothing listens: the proxy answers 503
        ORCHESTRATOR_REQUEST_TIMEOUT="2",
    )
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no temporalio" in proc.stdout
