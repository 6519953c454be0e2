#!/usr/bin/env python3
"""Install the uv binary from a Python package index without pip (build stage ``uv``).

  fetch-uv.py VERSION SHA256 DEST [--index URL]

Looks up uv VERSION on the index (PEP 691 JSON, or the PEP 503 HTML page), takes the one
file whose sha256 is SHA256 (the pin decides the platform), downloads it, checks the hash
again and writes the wheel's ``uv`` executable to DEST.

Why not ``pip install uv``: creating a venv with pip, then letting pip read uv's whole
release page, took 9-13 s on a cold build's critical path; this takes well under a second.
Like pip, urllib honours ``SSL_CERT_FILE`` (a proxy's CA, handed in as a BuildKit secret)
and ``HTTPS_PROXY``.
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import io
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import Any

ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


class _Links(html.parser.HTMLParser):
    """The anchors of a PEP 503 project page: (file name, absolute URL)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links.append((data.strip(), urllib.parse.urljoin(self.base, self._href)))
            self._href = None


def _open(url: str, timeout: float, accept: str = "*/*") -> Any:
    """urlopen for http(s) only: an index or a link from it never opens file: or ftp:."""
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise ValueError(f"{url} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 - checked
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked


def _files(index: str) -> list[tuple[str, str, str]]:
    """(file name, URL, sha256) of every uv file the index lists."""
    url = f"{index.rstrip('/')}/uv/"
    with _open(url, timeout=60, accept=ACCEPT) as answer:
        kind = answer.headers.get_content_type()
        body = answer.read()
    if kind == "application/vnd.pypi.simple.v1+json":
        return [
            (f["filename"], urllib.parse.urljoin(url, f["url"]), f["hashes"].get("sha256", ""))
            for f in json.loads(body)["files"]
        ]
    page = _Links(url)
    page.feed(body.decode())
    return [
        (name, link.split("#")[0], urllib.parse.urlparse(link).fragment.removeprefix("sha256="))
        for name, link in page.links
    ]


def fetch(version: str, sha256: str, dest: str, index: str) -> None:
    """Download the pinned wheel and write its ``uv`` binary to ``dest``."""
    prefix = f"uv-{version}-"
    matches = [(n, u) for n, u, h in _files(index) if n.startswith(prefix) and h == sha256]
    if not matches:
        sys.exit(f"fetch-uv: {index} lists no uv {version} file with sha256 {sha256}.")
    name, url = matches[0]
    with _open(url, timeout=300) as answer:
        data = answer.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        sys.exit(f"fetch-uv: {name} from {url} does not match its pinned sha256 {sha256}.")
    member = f"uv-{version}.data/scripts/uv"
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        if member not in wheel.namelist():
            sys.exit(f"fetch-uv: {name} has no {member}.")
        binary = wheel.read(member)
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    with open(dest, "wb") as out:
        out.write(binary)
    os.chmod(dest, 0o755)  # noqa: S103 - an executable every user may run
    print(f"fetch-uv: {name} -> {dest}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version")
    parser.add_argument("sha256")
    parser.add_argument("dest")
    parser.add_argument("--index", default="https://pypi.org/simple")
    args = parser.parse_args()
    try:
        fetch(args.version, args.sha256.lower(), args.dest, args.index)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        sys.exit(f"fetch-uv: could not download uv {args.version} from {args.index}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
