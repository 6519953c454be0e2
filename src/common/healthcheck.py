"""The image HEALTHCHECK: ``python -m common.healthcheck``, standard library only.

Exit 0 when ``http://127.0.0.1:$XORB_HEALTH_PORT$XORB_HEALTH_PATH`` (defaults 8000 and
``/health``) answers 200 within 3 seconds, otherwise print one line and exit 1.

Docker runs this every second while a container starts, on the same CPUs as the service
booting next to it: it speaks HTTP/1.0 over a plain socket and reads the status line only,
because ``urllib.request`` (``http.client``, ``email``, ...) would triple its start-up time.
"""

from __future__ import annotations

import os
import socket
import sys
import time

TIMEOUT_SECONDS = 3.0
MAX_STATUS_LINE = 8192


def _status(port: int, path: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    request = (
        f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
        "User-Agent: xorb-healthcheck\r\nConnection: close\r\n\r\n"
    )
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request.encode("ascii"))
        while b"\r\n" not in data and len(data) < MAX_STATUS_LINE:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out")
            sock.settimeout(remaining)
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {line[:60]!r}")
    return int(parts[1])


def check(port: str, path: str, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"port out of range: {number}")
    path = path if path.startswith("/") else "/" + path
    url = f"http://127.0.0.1:{number}{path}"
    if not path.isascii() or any(c.isspace() or not c.isprintable() for c in path):
        return False, f"{url}: invalid path"
    try:
        status = _status(number, path, timeout)
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
