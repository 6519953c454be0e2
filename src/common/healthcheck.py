"""The image HEALTHCHECK: ``python -m common.healthcheck``, standard library only.

Exit 0 when ``http://127.0.0.1:$XORB_HEALTH_PORT$XORB_HEALTH_PATH`` (defaults 8000 and
``/health``) answers 200 within 3 seconds, otherwise print one line and exit 1.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3.0


def check(port: str, path: str, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    url = f"http://127.0.0.1:{int(port)}{path if path.startswith('/') else '/' + path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"{url}: {exc}"
    return status == 200, f"{url}: HTTP {status}"


def main() -> int:
    try:
        ok, detail = check(
            os.environ.get("XORB_HEALTH_PORT", "8000"),
            os.environ.get("XORB_HEALTH_PATH", "/health"),
        )
    except ValueError as exc:
        ok, detail = False, f"bad XORB_HEALTH_PORT: {exc}"
    if not ok:
        print(f"unhealthy: {detail}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
