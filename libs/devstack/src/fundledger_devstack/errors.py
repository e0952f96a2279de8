"""The one exception type of the dev stack."""

from __future__ import annotations


class DevstackError(RuntimeError):
    """A server or service could not be started, reached or stopped.

    The message is meant for a human at a terminal: it names what failed, and, when a
    process was involved, ends with the tail of that process's log.
    """
