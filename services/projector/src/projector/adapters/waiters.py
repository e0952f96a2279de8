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


class VersionWaiters:
    def __init__(self) -> None:
        self._by_fund: dict[str, set[asyncio.Event]] = {}

    @contextmanager
    def watch(self, fund_id: str) -> Iterator[asyncio.Event]:
        """An event set by the next notify(fund_id).

        Register *before* reading the row: a commit between the read and the wait
        then still sets this event, instead of being missed until the next poll.
        """
        event = asyncio.Event()
        waiting = self._by_fund.setdefault(fund_id, set())
        waiting.add(event)
        try:
            yield event
        finally:
            waiting.discard(event)
            if not waiting:
                self._by_fund.pop(fund_id, None)

    def notify(self, fund_id: str) -> None:
        for event in self._by_fund.get(fund_id, ()):
            event.set()

    def notify_all(self) -> None:
        for waiting in self._by_fund.values():
            for event in waiting:
                event.set()
