"""In-process wake-ups for GetFundState calls waiting on a fund's version.

A wake-up, not a message: a waiter that is not handed the commit re-reads the
row after waking, so a missed or spurious wake-up costs at most one poll
interval, never a wrong answer. Other replicas apply events too and cannot
wake us; the waiter's bounded poll of the database covers them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fundledger_kernel.fund import FundState

from projector.domain.model import FundHead


@dataclass(frozen=True, slots=True)
class Committed:
    """A row this process committed, and the state it holds."""

    head: FundHead
    state: FundState


class Change(asyncio.Event):
    """Set by a commit of the fund; `committed` is the newest commit it was set by, when known."""

    def __init__(self) -> None:
        super().__init__()
        self.committed: Committed | None = None


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

    def notify(self, fund_id: str, committed: Committed | None = None) -> None:
        """Wake the fund's waiters; `committed`: the row this process just committed."""
        for event in self._by_fund.get(fund_id, ()):
            if committed is not None and (
                event.committed is None or event.committed.head.version < committed.head.version
            ):
                event.committed = committed
            event.set()

    def notify_all(self) -> None:
        for waiting in self._by_fund.values():
            for event in waiting:
                event.set()
