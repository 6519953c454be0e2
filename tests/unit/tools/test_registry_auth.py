"""The registry client logs in as ``docker login`` did: a bearer token from the registry's
token service (ghcr.io's way) or HTTP Basic, with credentials from the docker config file
(an ``auth`` entry or a credential helper). Against a real HTTP server on loopback."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from xorb_tools.core import registry, registry_auth

USER, SECRET, TOKEN = "ci", "s3cret", "tok-123"


class Handler(http.server.BaseHTTPRequestHandler):
    scheme = "Bearer"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        host = self.headers["Host"]
        basic = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
        if self.path.startswith("/token?"):
            assert "scope=repository%3Axorb%2Fapi%3Apull" in self.path
            if self.headers.get("Authorization") != basic:
                return self._send(401)
            return self._send(200, json.dumps({"token": TOKEN}).encode())
        wanted = f"Bearer {TOKEN}" if self.scheme == "Bearer" else basic
        if self.headers.get("Authorization") != wanted:
            challenge = (
                f'Bearer realm="http://{host}/token",service="{host}",'
                'scope="repository:xorb/api:pull"'
                if self.scheme == "Bearer"
                else 'Basic realm="registry"'
            )
            return self._send(401, WWW_Authenticate=challenge)
        return self._send(200, b"{}", Docker_Content_Digest="sha256:" + "a" * 64)

    do_HEAD = do_GET


@pytest.fixture(params=["Bearer", "Basic"])
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("H", (Handler,), {"scheme": request.param})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: dict[str, object]) -> None:
    (tmp_path / "config.json").write_text(json.dumps(entry))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))


def test_a_logged_in_registry_answers(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    _config(tmp_path, monkeypatch, {"auths": {server: {"auth": auth}}})
    ref = registry.Ref(server, "xorb/api", "1.0")
    assert registry.manifest_digest(ref) == "sha256:" + "a" * 64


def test_without_a_login_the_registry_still_says_no(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, {})
    assert registry.manifest_digest(registry.Ref(server, "xorb/api", "1.0")) is None


def test_credentials_come_from_a_credential_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper = tmp_path / "docker-credential-fake"
    helper.write_text(
        '#!/bin/sh\nread host\nprintf \'{"ServerURL":"%s","Username":"u","Secret":"p"}\' "$host"\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    _config(tmp_path, monkeypatch, {"credHelpers": {"ghcr.io": "fake"}})
    assert registry_auth.credentials("ghcr.io") == ("u", "p")
    assert registry_auth.credentials("quay.io") is None
