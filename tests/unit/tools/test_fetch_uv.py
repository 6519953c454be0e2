"""docker/fetch-uv.py against a local package index (PEP 691 JSON and PEP 503 HTML)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from xorb_tools.core.services import ROOT

TOOL = ROOT / "docker" / "fetch-uv.py"
VERSION = "9.9.9"


def _wheel(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as whl:
        whl.writestr(f"uv-{VERSION}.data/scripts/uv", payload)
        whl.writestr(f"uv-{VERSION}.dist-info/METADATA", "Name: uv\n")
    return buf.getvalue()


WHEELS = {
    f"uv-{VERSION}-py3-none-manylinux_2_17_x86_64.whl": _wheel(b"#!amd64 uv\n"),
    f"uv-{VERSION}-py3-none-manylinux_2_17_aarch64.whl": _wheel(b"#!arm64 uv\n"),
}


def _sha(name: str) -> str:
    return hashlib.sha256(WHEELS[name]).hexdigest()


class _Index(http.server.BaseHTTPRequestHandler):
    json_api = True
    served: dict[str, bytes] = WHEELS

    def do_GET(self) -> None:
        if self.path == "/simple/uv/":
            if self.json_api and "json" in self.headers.get("Accept", ""):
                files = [
                    {"filename": n, "url": f"/files/{n}", "hashes": {"sha256": _sha(n)}}
                    for n in WHEELS
                ]
                body = json.dumps({"files": files}).encode()
                kind = "application/vnd.pypi.simple.v1+json"
            else:
                links = "".join(
                    f'<a href="../../files/{n}#sha256={_sha(n)}">{n}</a>' for n in WHEELS
                )
                body = f"<html><body>{links}</body></html>".encode()
                kind = "text/html"
        elif self.path.startswith("/files/") and self.path[7:] in self.served:
            body, kind = self.served[self.path[7:]], "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[tuple[str, type[_Index]]]:
    handler = type("Handler", (_Index,), {"json_api": True, "served": dict(WHEELS)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple", handler
    server.shutdown()


def _fetch(index: str, sha: str, dest: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(TOOL), VERSION, sha, str(dest), "--index", index]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("json_api", [True, False], ids=["pep691-json", "pep503-html"])
def test_the_pin_picks_the_wheel_and_only_its_binary_is_written(
    index: tuple[str, type[_Index]], tmp_path: Path, json_api: bool
) -> None:
    url, handler = index
    handler.json_api = json_api
    dest = tmp_path / "opt" / "uv" / "bin" / "uv"
    name = f"uv-{VERSION}-py3-none-manylinux_2_17_aarch64.whl"
    proc = _fetch(url, _sha(name), dest)
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes() == b"#!arm64 uv\n"
    assert dest.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["uv"]


def test_an_unknown_pin_is_one_sentence(index: tuple[str, type[_Index]], tmp_path: Path) -> None:
    proc = _fetch(index[0], "0" * 64, tmp_path / "uv")
    assert proc.returncode != 0
    assert proc.stderr.strip() == (
        f"fetch-uv: {index[0]} lists no uv {VERSION} file with sha256 {'0' * 64}."
    )
    assert not (tmp_path / "uv").exists()


def test_a_download_that_does_not_match_the_pin_is_refused(
    index: tuple[str, type[_Index]], tmp_path: Path
) -> None:
    url, handler = index
    name = f"uv-{VERSION}-py3-none-manylinux_2_17_x86_64.whl"
    handler.served = {**WHEELS, name: _wheel(b"tampered\n")}
    proc = _fetch(url, _sha(name), tmp_path / "uv")
    assert proc.returncode != 0
    assert "does not match its pinned sha256" in proc.stderr
    assert not (tmp_path / "uv").exists()


def test_an_unreachable_index_is_one_sentence(tmp_path: Path) -> None:
    proc = _fetch("http://127.0.0.1:9/simple", "0" * 64, tmp_path / "uv")
    assert proc.returncode != 0
    assert proc.stderr.startswith(f"fetch-uv: could not download uv {VERSION} from ")
    assert "Traceback" not in proc.stderr
