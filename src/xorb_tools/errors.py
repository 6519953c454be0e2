"""The one error type the automation raises for problems a user can fix.

Its message is one sentence that names the problem and the remedy; tasks turn it into an
``invoke.Exit`` (non-zero exit, no traceback).
"""

from __future__ import annotations


class XorbError(Exception):
    """A user-facing failure: ``str(err)`` is one clear sentence with the remedy."""
