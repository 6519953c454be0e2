"""The one error type the automation raises for problems a user can fix, and the one
place that turns any other exception into a sentence.

A :class:`XorbError`'s message is one sentence that names the problem and the remedy.
Every task ends through :func:`describe` (the program's error boundary,
:mod:`xorb_tools.tasks.cli`): a non-zero exit and one line, whatever escaped; the
traceback only with ``XORB_DEBUG=1`` or invoke's ``--debug``.
"""

from __future__ import annotations

import os

DEBUG_VAR = "XORB_DEBUG"
START_HINT = (
    "start it with `bash scripts/provision.sh` (Debian hosts; as root or with sudo), "
    "or start Docker Desktop"
)


class XorbError(Exception):
    """A user-facing failure: ``str(err)`` is one clear sentence with the remedy."""


def debugging() -> bool:
    """Whether the user asked for tracebacks (``XORB_DEBUG=1``)."""
    return os.environ.get(DEBUG_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def _docker_detail(exc: BaseException) -> str | None:
    """The useful line of a python-on-whales ``DockerException`` (checked by shape, so this
    module imports nothing heavy), or None when ``exc`` is not one."""
    if not type(exc).__module__.startswith("python_on_whales"):
        return None
    text = "\n".join(str(getattr(exc, name, "") or "") for name in ("stderr", "stdout"))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def describe(exc: BaseException) -> str:
    """One line for any exception: the problem and, where known, what to do."""
    if isinstance(exc, XorbError):
        return str(exc)
    detail = _docker_detail(exc)
    if detail is not None:
        whole = f"{detail}\n{exc}"
        if "Cannot connect to the Docker daemon" in whole or "docker.sock" in whole:
            return f"No Docker daemon answers: {START_HINT}."
        code = getattr(exc, "return_code", "?")
        return f"docker failed (exit {code}): {detail or 'no message'}."
    if isinstance(exc, PermissionError):
        return f"Permission denied on {exc.filename}: choose a path you may write, or fix its mode."
    if isinstance(exc, FileExistsError | NotADirectoryError | IsADirectoryError):
        return f"{exc.filename} is in the way ({exc.strerror}): choose another path."
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename} does not exist."
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}."
    text = " ".join(str(exc).split()) or "no message"
    return (
        f"unexpected {type(exc).__name__}: {text[:300]} "
        f"(run with {DEBUG_VAR}=1 for the traceback, and please report it)."
    )
