"""The values users type, checked before anything runs: versions, registries, CA bundles.

Each check returns the value (normalised) or raises one :class:`XorbError` sentence naming
the value and the rule, before the Docker daemon is asked and before any file is written.
One definition each: build, push, deploy and swarm all read these.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from pathlib import Path

from xorb_tools.core.errors import XorbError

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""A docker image tag (the distribution spec's rule)."""
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_NAMESPACE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")

ENGINES = ("compose", "swarm")
"""Where a stack runs: ``docker compose`` on one host, or Docker Swarm."""


def engine(name: str) -> str:
    """``name`` if it is one of :data:`ENGINES`, else one sentence."""
    if name not in ENGINES:
        raise XorbError(f"Unknown engine {name!r}: use one of {', '.join(ENGINES)}.")
    return name


def version(value: str | None) -> str:
    """``value`` if it is an image tag that is also a git ref name (a release is tagged
    both ways), else one sentence."""
    if value is None or not value.strip():
        raise XorbError("The version is empty: name one, e.g. --version 1.4.2.")
    if "+" in value and TAG.fullmatch(value.replace("+", "_")):
        raise XorbError(
            f"Invalid version {value!r}: an image tag cannot hold '+' (semver build "
            f"metadata): write {value.replace('+', '_')!r}."
        )
    if not TAG.fullmatch(value) or ".." in value or value.endswith(".lock"):
        raise XorbError(
            f"Invalid version {value!r}: use an image tag that is also a git ref name: up to "
            "128 letters, digits, '.', '_' and '-', not starting with '.' or '-', no '..' "
            "(e.g. 1.4.2 or v1.2.3-rc.1)."
        )
    return value


def _host_ok(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return all(_LABEL.fullmatch(label) for label in host.split("."))


def registry(value: str | None) -> str:
    """``host[:port][/namespace]`` (e.g. ``localhost:5000``, ``ghcr.io/acme``), without a
    scheme or a trailing slash, else one sentence."""
    text = (value or "").strip().rstrip("/")
    host_port, _, namespace = text.partition("/")
    host, port = host_port, ""
    if host_port.count(":") == 1 or (host_port.startswith("[") and "]:" in host_port):
        host, _, port = host_port.rpartition(":")
    ok = bool(host) and _host_ok(host) and "://" not in text
    if port:
        ok = ok and port.isdigit() and 1 <= int(port) <= 65535
    if namespace:
        ok = ok and all(_NAMESPACE.fullmatch(part) for part in namespace.split("/"))
    if not ok:
        raise XorbError(
            f"Invalid registry {value!r}: write host[:port][/namespace] with a port from 1 to "
            "65535 and no scheme, e.g. localhost:5000 or ghcr.io/acme."
        )
    return text


def ca_bundle(path: Path) -> Path:
    """``path`` if it holds at least one PEM certificate, else one sentence (a bundle that
    is not one fails a cold build deep inside BuildKit with an SSL error, and a warm build
    not at all)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise XorbError(f"CA bundle {path} cannot be read ({exc.strerror}).") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError):
        count = 0
    else:
        count = context.cert_store_stats().get("x509", 0)
    if "-----BEGIN CERTIFICATE-----" not in text or count == 0:
        raise XorbError(
            f"CA bundle {path} holds no PEM certificate: point --ca-cert at the proxy's CA "
            "(-----BEGIN CERTIFICATE----- blocks), or at a bundle that includes it."
        )
    return path
