"""Find the CA bundle a build hands to BuildKit as the secret ``ca``.

Behind a TLS-intercepting (corporate) proxy, ``pip``/``uv`` inside a ``RUN`` need the
proxy's CA. The bundle is passed as a BuildKit secret, mounted for the installing step
only, so it never lands in a layer, the history or the image config. It is the whole trust
store of those steps (``SSL_CERT_FILE``), not an addition to the public roots: behind a
proxy that intercepts everything that is what is wanted; otherwise pass a bundle that holds
the public roots too (e.g. ``cat /etc/ssl/certs/ca-certificates.crt proxy-ca.pem``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from xorb_tools.core import inputs
from xorb_tools.core.errors import XorbError

ENV_VARS = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
SECRET_ID = "ca"  # noqa: S105 - the BuildKit secret's id, not a secret


@dataclass(frozen=True)
class CaBundle:
    """A CA bundle and where it came from (``--ca-cert`` or an environment variable)."""

    path: Path
    source: str

    def secret(self) -> str:
        """The ``--secret`` value for buildx."""
        return f"id={SECRET_ID},src={self.path}"


def find(explicit: str | None = None, env: Mapping[str, str] | None = None) -> CaBundle | None:
    """The bundle to use: ``explicit`` first, then PIP_CERT, SSL_CERT_FILE, REQUESTS_CA_BUNDLE.

    An explicit path that is missing or unreadable is an error; an environment variable that
    points nowhere is skipped (the next one is tried). ``None`` when there is none at all.
    """
    environ = os.environ if env is None else env
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file() or not os.access(path, os.R_OK):
            raise XorbError(f"CA bundle {path} is not a readable file: fix the --ca-cert path.")
        return CaBundle(inputs.ca_bundle(path.resolve()), "--ca-cert")
    for var in ENV_VARS:
        value = environ.get(var)
        if value:
            path = Path(value).expanduser()
            if path.is_file() and os.access(path, os.R_OK):
                try:
                    return CaBundle(inputs.ca_bundle(path.resolve()), var)
                except XorbError as exc:
                    raise XorbError(f"{exc} (it comes from {var})") from None
    return None
