"""``inv secrets.init``: the secret files a compose stack mounts, created once, never replaced.

``src/common/secrets.toml`` holds every secret's rules (:mod:`common.secret_rules`: the
environments that need it, its minimum length, its kind), the same rules the services and
``inv config.validate`` apply; the compose file of an environment names every file it
mounts (:func:`xorb_tools.deploy.stack.secret_files`), the stack's own included: the nginx TLS pair
(``tls_cert`` / ``tls_key``, a self-signed certificate) and ``grafana_admin_password``.

An existing file is kept as it is; one that breaks its rule (empty, too short, a
placeholder, not PEM) is reported as such, and replaced only with ``--force``.

Permissions. Without swarm, compose mounts a secret file as a read-only bind mount and
ignores ``uid``/``gid``/``mode``, so a container sees the host file's owner and mode. The
readers run as different UIDs (1000 for the services, 999 for PostgreSQL and Redis, 101 for
nginx), so no single owner with mode 0600 works. The files are therefore mode 0640, owned by
the user who ran the task and group :data:`SECRETS_GID` (10001, no host account has it);
every container that reads a secret joins that group (``group_add`` in the compose files).
A folder this task creates is made 0700, so on the host nobody but its owner reaches the
files; an existing folder keeps its mode, and one that others may enter is reported.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from common import secret_rules
from xorb_tools.core.errors import XorbError

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
class Created:
    """What :func:`create` did for one file."""

    name: str
    path: Path
    state: str
    """``created``, ``exists``, ``replaced`` (``--force``) or what breaks its rule."""


def required_names(rules: secret_rules.Rules, environment: str) -> tuple[str, ...]:
    """The secrets ``environment`` needs by the rules, in file order."""
    return tuple(r.name for r in rules.secrets.values() if r.required_in(environment))


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


def _weak(rules: secret_rules.Rules, name: str, path: Path, environment: str) -> str | None:
    """Why the existing ``path`` breaks ``name``'s rule (None: it does not, or has none)."""
    rule = rules.secrets.get(name)
    try:
        value = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "unreadable"
    if not value.strip():
        return "empty"
    if rule is None:
        return None
    problem = rules.problem(rule, value, environment)
    return problem.removeprefix(f"secret {name} is ") if problem else None


def _folder(folder: Path) -> str | None:
    """Make ``folder`` 0700 if it is new; a note when an existing one lets others in."""
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
        folder.chmod(0o700)  # whatever the umask
        return None
    if not folder.is_dir():
        raise XorbError(f"{folder} is a file, not a folder: choose another --secrets-dir.")
    mode = folder.stat().st_mode & 0o777
    if mode & 0o077:
        return (
            f"{folder} is open to others (mode {mode:04o}): `chmod 700 {folder}` keeps them "
            "out (left as it is)"
        )
    return None


def create(
    folder: Path,
    names: Iterable[str],
    rules: secret_rules.Rules,
    *,
    environment: str = "production",
    force: bool = False,
    gid: int = SECRETS_GID,
) -> tuple[list[Created], list[str]]:
    """Create every missing file of ``names`` in ``folder``; return what happened and notes.

    Values meet their rules (random, at least their minimum length); ``tls_cert`` and
    ``tls_key`` are made together (a pair is only written when both are missing: a lone
    existing half is never replaced, and reported). An existing file is kept; one that
    breaks its rule is reported by what is wrong, and with ``force`` replaced.
    """
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if "/" in name or name.startswith(".") or not name:
            raise XorbError(f"Secret name {name!r} is not a plain file name.")
    notes = [note] if (note := _folder(folder)) else []
    results: list[Created] = []
    tls = [n for n in wanted if n in (TLS_CERT, TLS_KEY)]
    if tls:
        results += _tls_pair(folder, rules, environment, force, gid)
    for name in wanted:
        if name in (TLS_CERT, TLS_KEY):
            continue
        rule = rules.secrets.get(name)
        path = folder / name
        if write_new(path, random_value(rule.min_length if rule else 1).encode(), gid):
            results.append(Created(name, path, "created"))
            continue
        weak = _weak(rules, name, path, environment)
        if weak and force:
            path.unlink()
            write_new(path, random_value(rule.min_length if rule else 1).encode(), gid)
            results.append(Created(name, path, "replaced"))
        else:
            results.append(Created(name, path, f"exists, but {weak}" if weak else "exists"))
    return results, notes


def _tls_pair(
    folder: Path, rules: secret_rules.Rules, environment: str, force: bool, gid: int
) -> list[Created]:
    cert_path, key_path = folder / TLS_CERT, folder / TLS_KEY
    if cert_path.exists() != key_path.exists():
        have = TLS_CERT if cert_path.exists() else TLS_KEY
        raise XorbError(
            f"{folder / have} exists without its pair: remove it to get a new certificate."
        )
    if cert_path.exists():
        weak = {n: _weak(rules, n, folder / n, environment) for n in (TLS_CERT, TLS_KEY)}
        if not (force and any(weak.values())):
            return [
                Created(n, folder / n, f"exists, but {w}" if w else "exists")
                for n, w in weak.items()
            ]
        cert_path.unlink()
        key_path.unlink()
        state = "replaced"
    else:
        state = "created"
    cert, key = self_signed_pair()
    write_new(key_path, key, gid)
    write_new(cert_path, cert, gid)
    return [Created(n, folder / n, state) for n in (TLS_CERT, TLS_KEY)]


def missing(files: Mapping[str, Path]) -> list[str]:
    """Names in ``{name: path}`` whose file does not exist or is empty."""
    return [n for n, p in files.items() if not p.is_file() or p.stat().st_size == 0]
