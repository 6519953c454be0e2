"""One way to wait for something: poll a check until it holds, within a deadline.

The suites' "wait until" goes through :func:`wait_for`, so each wait is bounded, says what
it waited for when it gives up, and treats a check that raises (a service that refuses
connections while it restarts) as "not yet". (Loops that report a container's state as they
go, such as testinfra's health wait, keep their own.)
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    check: Callable[[], object], seconds: float, what: str, interval: float = 0.5
) -> float:
    """Call ``check`` every ``interval`` seconds until it returns something true; the
    seconds that took. Raise ``AssertionError`` naming ``what`` (and the last error the
    check raised, if any) after ``seconds``."""
    start = time.monotonic()
    last: Exception | None = None
    while True:
        try:
            if check():
                return time.monotonic() - start
            last = None
        except Exception as exc:  # not yet
            last = exc
        if time.monotonic() - start > seconds:
            because = f" (last error: {type(last).__name__}: {last})" if last else ""
            raise AssertionError(f"{what} did not happen within {seconds:g} s{because}")
        time.sleep(interval)
