"""``inv secrets.init``: the secret files a compose stack mounts, created once, never replaced.

``secrets/manifest.toml`` names the application secrets (the ones ``common.config_manager``
reads) with the environments that need them and a minimum length; the compose file of an
environment names every file it mounts (:func:`xorb_tools.stack.secret_files`), which adds
the stack's own: the nginx TLS pair (``tls_cert`` / ``tls_key``, a self-signed certificate)
and ``grafana_admin_password``.

Permissions. Without swarm, compose mounts a secret file as a read-only bind mount and
ignores ``uid``/``gid``/``mode``, so a container sees the host file's owner and mode. The
readers run as different UIDs (1000 for the services, 999 for PostgreSQL and Redis, 101 for
nginx), so no single owner with mode 0600 works. The files are therefore mode 0640, owned by
the user who ran the task and group :data:`SECRETS_GID` (10001, no host account has it);
every container that reads a secret joins that group (``group_add`` in the compose files).
The folder itself is made 0700, so on the host nobody but its owner reaches the files.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from xorb_tools.errors import XorbError
from xorb_tools.services import ROOT

MANIFEST = ROOT / "secrets" / "manifest.toml"
SECRETS_GID = 10001
FILE_MODE = 0o640
FALLBACK_MODE = 0o644
"""Used when the group cannot be set (not root): the 0700 folder still keeps others out."""
TLS_CERT = "tls_cert"
TLS_KEY = "tls_key"
TLS_NAMES = ("localhost", "nginx")
TLS_DAYS = 825
RANDOM_BYTES = 48
"""Bytes of randomness per generated value (64 URL-safe characters)."""


@dataclass(frozen=True)
class ManifestEntry:
    """One application secret from ``secrets/manifest.toml``."""

    name: str
    environments: tuple[str, ...]
    min_length: int


@dataclass(frozen=True)
class Created:
    """What :func:`create` did for one file."""

    name: str
    path: Path
    state: str
    """``created`` or ``exists`` (never overwritten)."""


def load_manifest(path: Path = MANIFEST) -> dict[str, ManifestEntry]:
    """The manifest's entries by name; a clear error when it is missing or malformed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise XorbError(f"The secrets manifest {path} is missing: restore it from git.") from None
    except tomllib.TOMLDecodeError as exc:
        raise XorbError(f"The secrets manifest {path} is not valid TOML: {exc}.") from None
    table = data.get("secrets")
    if not isinstance(table, dict):
        raise XorbError(f"The secrets manifest {path} has no [secrets.<name>] tables.")
    entries: dict[str, ManifestEntry] = {}
    for name, row in table.items():
        if not isinstance(row, dict) or not isinstance(row.get("environments"), list):
            raise XorbError(f"Secret {name!r} in {path} needs an `environments` list.")
        entries[name] = ManifestEntry(
            name=name,
            environments=tuple(str(e) for e in row["environments"]),
            min_length=int(row.get("min-length", 1)),
        )
    return entries


def manifest_names(manifest: Mapping[str, ManifestEntry], environment: str) -> tuple[str, ...]:
    """The application secrets ``environment`` needs, in manifest order."""
    return tuple(e.name for e in manifest.values() if environment in e.environments)


def random_value(min_length: int = 1) -> str:
    """A URL-safe random value of at least ``min_length`` characters (and 384 bits)."""
    value = secrets.token_urlsafe(RANDOM_BYTES)
    while len(value) < min_length:
        value += secrets.token_urlsafe(RANDOM_BYTES)
    return value


def self_signed_pair(names: Iterable[str] = TLS_NAMES) -> tuple[bytes, bytes]:
    """A self-signed ECDSA P-256 certificate and its key (PEM) for ``names`` and 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    hosts = list(names)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
    alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=TLS_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_new(path: Path, data: bytes, gid: int = SECRETS_GID) -> bool:
    """Write ``data`` to a new file ``path`` (0640, group ``gid``); False when it exists.

    ``O_EXCL`` makes "never overwrite" atomic; the file is created 0600 and only widened to
    the group once its group is set, so it is never readable by others in between.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.write(fd, data)
        try:
            os.fchown(fd, -1, gid)
            mode = FILE_MODE
        except PermissionError:
            mode = FALLBACK_MODE
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return True


def create(
    folder: Path,
    names: Iterable[str],
    manifest: Mapping[str, ManifestEntry],
    *,
    gid: int = SECRETS_GID,
) -> list[Created]:
    """Create every missing file of ``names`` in ``folder``; existing files are kept as they are.

    Manifest secrets get random values of their minimum length or more; ``tls_cert`` and
    ``tls_key`` are made together (a pair is only written when both are missing: a lone
    existing half is never replaced, and reported); anything else gets a random value.
    """
    wanted = list(dict.fromkeys(names))
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    results: list[Created] = []
    tls = [n for n in wanted if n in (TLS_CERT, TLS_KEY)]
    if tls:
        cert_path, key_path = folder / TLS_CERT, folder / TLS_KEY
        if cert_path.exists() != key_path.exists():
            have = TLS_CERT if cert_path.exists() else TLS_KEY
            raise XorbError(
                f"{folder / have} exists without its pair: remove it to get a new certificate."
            )
        if cert_path.exists():
            results += [Created(n, folder / n, "exists") for n in (TLS_CERT, TLS_KEY)]
        else:
            cert, key = self_signed_pair()
            write_new(key_path, key, gid)
            write_new(cert_path, cert, gid)
            results += [Created(n, folder / n, "created") for n in (TLS_CERT, TLS_KEY)]
    for name in wanted:
        if name in (TLS_CERT, TLS_KEY):
            continue
        if "/" in name or name.startswith("."):
            raise XorbError(f"Secret name {name!r} is not a plain file name.")
        entry = manifest.get(name)
        value = random_value(entry.min_length if entry else 1)
        path = folder / name
        state = "created" if write_new(path, value.encode(), gid) else "exists"
        results.append(Created(name, path, state))
    return results


def missing(files: Mapping[str, Path]) -> list[str]:
    """Names in ``{name: path}`` whose file does not exist or is empty."""
    return [n for n, p in files.items() if not p.is_file() or p.stat().st_size == 0]
