"""Registry reachability, checked before a push so a build never fails half-way through."""

from __future__ import annotations

import urllib.error
import urllib.request

from xorb_tools.errors import XorbError

LOCAL_HOSTS = ("localhost", "127.", "[::1]")


def base_url(registry: str) -> str:
    """``http://`` for loopback registries (Docker treats them as insecure), else https."""
    host = registry.split("/")[0]
    scheme = "http" if host.startswith(LOCAL_HOSTS) else "https"
    return f"{scheme}://{host}"


def reachable(registry: str, timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the registry's ``/v2/`` endpoint answers (200, or 401 asking for a login)."""
    url = f"{base_url(registry)}/v2/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            return True, f"{url} answered {resp.status}"
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return True, f"{url} answered 401 (login needed)"
        return False, f"{url} answered {exc.code}"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url}: {reason}"


def require(registry: str, why: str) -> None:
    """Fail in one sentence when ``registry`` does not answer."""
    ok, detail = reachable(registry)
    if not ok:
        raise XorbError(
            f"Registry {registry} is unreachable ({detail}), needed for {why}: start it "
            "(`sudo scripts/start-docker.sh` runs one on 127.0.0.1:5000) or pass --registry."
        )
