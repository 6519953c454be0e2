"""Registry reachability (checked before a push so a build never fails half-way through),
and the inputs marker that lets a build skip re-exporting an unchanged registry cache.

The marker is a tiny OCI artifact next to the cache (tag ``<cache tag>-inputs``): its
annotations name the build inputs' fingerprint and the digest of the cache manifest that
was exported from them. Reading it takes two calls of the distribution API, writing it
at most four, all through the standard library: a client library (oras) would add
requests and jsonschema for that.
A registry that wants a login gets the credentials ``docker login`` stored; without them it
answers 401, and the marker helpers then answer "unknown": the build exports as it always did.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from xorb_tools.core import inputs, registry_auth
from xorb_tools.core.errors import XorbError

LOCAL_HOSTS = ("localhost", "127.", "[::1]")
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"
MARKER_TYPE = "application/vnd.xorb.cache-inputs.v1"
INPUTS_KEY = "io.xorb.cache.inputs"
CACHE_KEY = "io.xorb.cache.manifest"
TIMEOUT = 5.0


def base_url(registry: str) -> str:
    """``http://`` for loopback registries (Docker treats them as insecure), else https."""
    host = registry.split("/")[0]
    scheme = "http" if host.startswith(LOCAL_HOSTS) else "https"
    return f"{scheme}://{host}"


def reachable(registry: str, timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the registry's ``/v2/`` endpoint answers (200, or 401 asking for a login)."""
    url = f"{base_url(registry)}/v2/"
    try:
        status, _, _ = _call(url, timeout=timeout)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url}: {reason}"
    if status == 401:
        return True, f"{url} answered 401 (login needed)"
    return status < 400, f"{url} answered {status}"


def require(registry: str, why: str) -> None:
    """Fail in one sentence when ``registry`` is not host[:port] or does not answer."""
    ok, detail = reachable(inputs.registry(registry))
    if not ok:
        raise XorbError(
            f"Registry {registry} is unreachable ({detail}), needed for {why}: start it "
            "(`bash scripts/provision.sh` runs one on 127.0.0.1:5000) or pass --registry."
        )


@dataclass(frozen=True)
class Ref:
    """``host[:port]/repository:tag``, split for the distribution API."""

    host: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, ref: str) -> Ref:
        """Split a tagged reference; error for one without a host or a tag."""
        host, _, rest = ref.partition("/")
        repository, sep, tag = rest.rpartition(":")
        if not host or not sep or not repository or "/" in tag:
            raise XorbError(f"Registry reference {ref!r} needs a host, a repository and a tag.")
        return cls(host, repository, tag)

    def url(self, kind: str, name: str) -> str:
        return f"{base_url(self.host)}/v2/{self.repository}/{kind}/{name}"

    def with_tag(self, tag: str) -> Ref:
        return Ref(self.host, self.repository, tag)


def _call(
    url: str,
    method: str = "GET",
    data: bytes | None = None,
    timeout: float = TIMEOUT,
    **headers: str,
) -> tuple[int, dict[str, str], bytes]:
    """One request: (status, lower-case headers, body), logged in as ``docker login`` was
    when the registry asks (:mod:`~.registry_auth`). Raises OSError when unreachable."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    status, answer, body = _request(url, method, data, timeout, hdrs)
    challenge = answer.get("www-authenticate", "")
    if status == 401 and challenge:
        host = urllib.parse.urlsplit(url).netloc
        login = registry_auth.authorization(host, challenge)
        if login:
            return _request(url, method, data, timeout, {**hdrs, "Authorization": login})
    return status, answer, body


def _request(
    url: str, method: str, data: bytes | None, timeout: float, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return resp.status, _lower(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, _lower(exc.headers.items()), b""


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in items}


def manifest_digest(ref: Ref) -> str | None:
    """The digest ``ref``'s tag points at; None when absent or the registry will not say."""
    try:
        status, headers, _ = _call(ref.url("manifests", ref.tag), "HEAD", Accept=MANIFEST_TYPES)
    except (OSError, ValueError):
        return None
    digest = headers.get("docker-content-digest")
    return digest if status == 200 and digest else None


def marker_ref(cache: Ref) -> Ref:
    """Where the inputs marker of the cache at ``cache`` lives."""
    return cache.with_tag(f"{cache.tag}-inputs")


def read_marker(cache: Ref) -> tuple[str, str] | None:
    """(fingerprint, cache manifest digest) recorded for ``cache``; None when there is none."""
    marker = marker_ref(cache)
    try:
        status, _, body = _call(marker.url("manifests", marker.tag), Accept=OCI_MANIFEST)
        notes = json.loads(body).get("annotations", {}) if status == 200 else {}
    except (OSError, ValueError, AttributeError):
        return None
    inputs, digest = notes.get(INPUTS_KEY), notes.get(CACHE_KEY)
    return (inputs, digest) if isinstance(inputs, str) and isinstance(digest, str) else None


def write_marker(cache: Ref, fingerprint: str, digest: str) -> bool:
    """Record that the cache manifest ``digest`` was exported from inputs ``fingerprint``.

    Uploads the two-byte empty blob when the repository lacks it, then puts the marker
    manifest. False (and nothing half-written that matters) when the registry refuses.
    """
    marker = marker_ref(cache)
    try:
        descriptor = {"mediaType": EMPTY_TYPE, **put_blob(marker, EMPTY_BLOB)}
        put_manifest(
            marker,
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": MARKER_TYPE,
                "config": descriptor,
                "layers": [descriptor],
                "annotations": {INPUTS_KEY: fingerprint, CACHE_KEY: digest},
            },
        )
    except (OSError, ValueError, XorbError):
        return False
    return True


def _has_blob(ref: Ref, digest: str) -> bool:
    status, _, _ = _call(ref.url("blobs", digest), "HEAD")
    return status == 200


def _upload(ref: Ref, digest: str, data: bytes) -> bool:
    status, headers, _ = _call(ref.url("blobs", "uploads/"), "POST", b"")
    location = headers.get("location", "")
    if status != 202 or not location:
        return False
    if location.startswith("/"):
        location = base_url(ref.host) + location
    joiner = "&" if "?" in location else "?"
    status, _, _ = _call(
        f"{location}{joiner}digest={digest}",
        "PUT",
        data,
        Content_Type="application/octet-stream",
    )
    return status == 201


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def get_manifest(ref: Ref, reference: str | None = None) -> tuple[str, bytes] | None:
    """(media type, bytes) of the manifest or index ``reference`` (default: the tag); None
    when the registry has none. Raises OSError when the registry cannot be reached."""
    status, headers, body = _call(ref.url("manifests", reference or ref.tag), Accept=MANIFEST_TYPES)
    if status != 200:
        return None
    return headers.get("content-type", ""), body


def get_blob(ref: Ref, digest: str) -> bytes | None:
    """A blob of ``ref``'s repository, checked against its digest; None when absent."""
    status, _, body = _call(ref.url("blobs", digest))
    return body if status == 200 and sha256(body) == digest else None


def put_blob(ref: Ref, data: bytes) -> dict[str, Any]:
    """Upload ``data`` (unless the repository has it); its OCI descriptor (without type)."""
    digest = sha256(data)
    if not _has_blob(ref, digest) and not _upload(ref, digest, data):
        raise XorbError(f"Registry {ref.host} refused a blob upload to {ref.repository}.")
    return {"digest": digest, "size": len(data)}


def put_manifest(ref: Ref, manifest: dict[str, Any]) -> str:
    """Put ``manifest`` (an OCI image manifest) at ``ref``'s tag; its digest."""
    data = json.dumps(manifest, separators=(",", ":")).encode()
    status, _, _ = _call(
        ref.url("manifests", ref.tag), "PUT", data, Content_Type=str(manifest["mediaType"])
    )
    if status != 201:
        raise XorbError(f"Registry {ref.host} refused the manifest {ref.repository}:{ref.tag}.")
    return sha256(data)
