"""Every secret's rules, read from ``common/secrets.toml``: the one definition that
``inv secrets.init`` (values that meet them), ``inv config.validate`` and the services at
start-up (:mod:`common.config_manager`) all apply.

A problem names the secret and the rule it breaks, never the value.
"""

from __future__ import annotations

import ssl
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Kind = Literal["text", "pem-certificate", "pem-key"]
KINDS: tuple[Kind, ...] = ("text", "pem-certificate", "pem-key")
_PREFIXES = ("<", "${", "changeme", "replace")


@dataclass(frozen=True)
class Rule:
    """One secret: where it must exist, how long it must be, what it must look like."""

    name: str
    environments: tuple[str, ...]
    min_length: int = 1
    kind: Kind = "text"
    setting: str | None = None
    """``section.field`` of the config an application secret fills (None: a stack secret)."""
    env_vars: tuple[str, ...] = ()

    def required_in(self, environment: str) -> bool:
        return environment in self.environments


@dataclass(frozen=True)
class Rules:
    """The whole file: the secrets by name, in file order, and the placeholder words."""

    secrets: dict[str, Rule]
    placeholders: frozenset[str]

    def is_placeholder(self, value: str) -> bool:
        lowered = value.strip().lower()
        return lowered in self.placeholders or lowered.startswith(_PREFIXES)

    def problem(self, rule: Rule, value: str | None, environment: str) -> str | None:
        """What is wrong with ``value`` for ``rule`` in ``environment`` (None: nothing)."""
        if value is None or not value.strip():
            if not rule.required_in(environment):
                return None
            state = "missing" if value is None else "empty"
            return f"secret {rule.name} is {state} (required in {environment})"
        if rule.kind == "pem-certificate" and not _is_certificate(value):
            return f"secret {rule.name} is not a PEM certificate"
        if rule.kind == "pem-key" and not _is_key(value):
            return f"secret {rule.name} is not a PEM private key"
        if rule.kind != "text":
            return None
        if self.is_placeholder(value):
            return f"secret {rule.name} is a placeholder word, not a secret"
        if len(value.strip()) < rule.min_length:
            return (
                f"secret {rule.name} is too short: the rule is at least {rule.min_length} "
                "characters"
            )
        return None


def _is_certificate(text: str) -> bool:
    if "-----BEGIN CERTIFICATE-----" not in text:
        return False
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError):
        return False
    return context.cert_store_stats().get("x509", 0) > 0


def _is_key(text: str) -> bool:
    begin = text.find("-----BEGIN ")
    return begin >= 0 and "PRIVATE KEY-----" in text[begin:] and "-----END " in text[begin:]


def parse(data: dict[str, object]) -> Rules:
    """The rules from the parsed TOML; ``ValueError`` naming the secret and key if malformed."""
    table = data.get("secrets")
    if not isinstance(table, dict) or not table:
        raise ValueError("it has no [secrets.<name>] tables")
    out: dict[str, Rule] = {}
    for name, row in table.items():
        if not isinstance(row, dict) or not isinstance(row.get("environments"), list):
            raise ValueError(f"secret {name!r} needs an `environments` list")
        kind = row.get("kind", "text")
        length = row.get("min-length", 1)
        if kind not in KINDS:
            raise ValueError(f"secret {name!r}: kind must be one of {', '.join(KINDS)}")
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"secret {name!r}: min-length must be a whole number >= 1")
        out[name] = Rule(
            name=name,
            environments=tuple(str(e) for e in row["environments"]),
            min_length=length,
            kind=kind,
            setting=str(row["setting"]) if row.get("setting") else None,
            env_vars=tuple(str(v) for v in row.get("env-vars", [])),
        )
    words = data.get("placeholders", [])
    if not isinstance(words, list):
        raise ValueError("placeholders must be a list of words")
    return Rules(out, frozenset(str(w).lower() for w in words))


@cache
def load() -> Rules:
    """The rules shipped with the package (``common/secrets.toml``; read-only images too)."""
    text = resources.files("common").joinpath("secrets.toml").read_text(encoding="utf-8")
    return parse(tomllib.loads(text))
