"""In-process wake-ups for GetFundState calls waiting on a fund's version.

A wake-up, not a message: the waiter re-reads the row after waking, so a
missed or spurious wake-up costs at most one poll interval, never a wrong
answer. Other replicas apply events too and cannot wake us; the waiter's
bounded DB poll covers them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from projector.adapters.fund_heads import FundHead


class Change(asyncio.Event):
    """Set by a commit of the fund; `head` is the row that commit wrote, when known."""

    def __init__(self) -> None:
        super().__init__()
        self.head: FundHead | None = None


class VersionWaiters:
    def __init__(self) -> None:
        self._by_fund: dict[str, set[Change]] = {}

    @contextmanager
    def watch(self, fund_id: str) -> Iterator[Change]:
        """An event set by the next notify(fund_id).

        Register *before* reading the row: a commit between the read and the wait
        then still sets this event, instead of being missed until the next poll.
        """
        event = Change()
        waiting = self._by_fund.setdefault(fund_id, set())
        waiting.add(event)
        try:
            yield event
        finally:
            waiting.discard(event)
            if not waiting:
                self._by_fund.pop(fund_id, None)

    def notify(self, fund_id: str, head: FundHead | None = None) -> None:
        """Wake the fund's waiters; `head`: the row this process just committed."""
        for event in self._by_fund.get(fund_id, ()):
            if head is not None and (event.head is None or event.head.version < head.version):
                event.head = head
            event.set()

    def notify_all(self) -> None:
        for waiting in self._by_fund.values():
            for event in waiting:
                event.set()
