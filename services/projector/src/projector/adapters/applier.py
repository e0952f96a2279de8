"""The live apply path: bus deliveries and catch-up pages into the live table.

Every route into the live projection goes through `Applier.apply`, i.e. through
the one exactly-once transaction in apply_tx.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.fund import FOLD_VERSION
from fundledger_kernel.streams import FUND_CATEGORY, is_fund_id

from projector.adapters.apply_tx import Outcome, apply_on
from projector.adapters.event_source import EventSource
from projector.adapters.fund_heads import FundHead
from projector.adapters.fund_rows import FundRows
from projector.adapters.leases import ConnectionLeases
from projector.adapters.state_cache import StateCache
from projector.adapters.tables import LIVE
from projector.adapters.waiters import VersionWaiters
from projector.metrics import (
    DUPLICATES_SKIPPED,
    EVENTS_APPLIED,
    GAP_EVENTS_FETCHED,
    GAPS_FILLED,
    REFOLDS,
)

log = logging.getLogger(__name__)

AfterCommit = Callable[[Outcome], Awaitable[None]]


class Applier:
    def __init__(
        self,
        pool: asyncpg.Pool,
        source: EventSource,
        waiters: VersionWaiters,
        *,
        concurrency: int,
        states: StateCache | None = None,
    ) -> None:
        self._pool = pool
        self._source = source
        self._waiters = waiters
        self._rows = FundRows(pool)
        # Decoded states of the live table, so applying does not re-parse stored JSON.
        self.states = StateCache() if states is None else states
        # Fewer concurrent apply transactions than pool connections, so reads
        # (GetFundState, status) always find a connection — also while a rebuild's
        # swap holds the table lock and every apply waits on it. The apply
        # connections are kept between applies (see leases.py).
        self._conns = ConnectionLeases(pool, concurrency)
        self.after_commit: AfterCommit | None = None
        """Test hook, awaited after each commit and before the caller acknowledges:
        raising here simulates a crash between the commit and the bus ack."""

    async def apply(
        self, fund_id: str, events: Sequence[RecordedEvent], *, refold: bool = False
    ) -> Outcome:
        """Apply one fund's events exactly once (see apply_tx); returns what happened."""
        async with self._conns.lease() as conn:
            outcome = await apply_on(
                conn, LIVE, self._source, fund_id, events, refold=refold, cache=self.states
            )
        # Counted and announced only after the commit: a rolled-back attempt
        # (retried later) must neither count twice nor wake a waiter for nothing.
        self._record(outcome)
        if outcome.applied or outcome.refolded:
            head = (
                None
                if outcome.updated_at is None
                else FundHead(
                    fund_id, outcome.version, outcome.position, FOLD_VERSION, outcome.updated_at
                )
            )
            self._waiters.notify(fund_id, head)
        if self.after_commit is not None:
            await self.after_commit(outcome)
        return outcome

    async def on_bus_batch(self, events: Sequence[RecordedEvent]) -> None:
        """BusConsumer batch handler: one stream's events of one fetch, in one transaction.

        Returns after the commit, so the acks follow it; a failure leaves every
        message of the batch unacknowledged (redelivered, then skipped or applied
        by the version check like any redelivery).
        """
        if not events:
            return
        first = events[0]
        if first.category != FUND_CATEGORY or not is_fund_id(first.stream_id):
            # The subject filter should make this impossible; never wedge on it.
            log.warning("ignoring %s v%d: not a fund stream", first.stream_id, first.version)
            return
        await self.apply(first.stream_id, events)

    async def apply_page(self, events: Sequence[RecordedEvent]) -> int:
        """Apply a page read from the log (position order, many funds); returns events applied.

        Funds proceed in parallel, each fund's events in one transaction in version
        order. Raises if any fund failed — after all the others finished — so a
        caller keeping a checkpoint never moves it past an event not applied.
        """
        groups: dict[str, list[RecordedEvent]] = {}
        for event in events:
            if event.category == FUND_CATEGORY and is_fund_id(event.stream_id):
                groups.setdefault(event.stream_id, []).append(event)
        # One cheap unlocked read skips funds the bus already brought up to date
        # (the usual case for a periodic catch-up). Safe without the lock: stored
        # versions only grow, so "already applied" cannot become false.
        stored = await self._rows.versions(groups.keys())
        todo: dict[str, list[RecordedEvent]] = {}
        for fund_id, group in groups.items():
            version, fold_version = stored.get(fund_id, (0, FOLD_VERSION))
            if fold_version == FOLD_VERSION and max(e.version for e in group) <= version:
                DUPLICATES_SKIPPED.inc(len(group))
            else:
                todo[fund_id] = group
        results = await asyncio.gather(
            *(self.apply(fund_id, group) for fund_id, group in todo.items()),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        return sum(r.applied for r in results if isinstance(r, Outcome))

    async def close(self) -> None:
        """Gives the kept connections back to the pool (before it closes)."""
        await self._conns.close()

    async def refold(self, fund_id: str) -> Outcome:
        """Fold a fund's whole stream again from the log (its stored state was unusable)."""
        return await self.apply(fund_id, [], refold=True)

    async def refold_stale(self, batch: int = 100) -> int:
        """Refold every fund whose row an older (or newer) fold version wrote."""
        done = 0
        while True:
            stale = await self._rows.stale(FOLD_VERSION, batch)
            if not stale:
                return done
            await asyncio.gather(*(self.refold(fund_id) for fund_id in stale))
            done += len(stale)

    @staticmethod
    def _record(outcome: Outcome) -> None:
        if outcome.applied:
            EVENTS_APPLIED.inc(outcome.applied)
        if outcome.duplicates:
            DUPLICATES_SKIPPED.inc(outcome.duplicates)
        if outcome.fetched:
            GAPS_FILLED.inc()
            GAP_EVENTS_FETCHED.inc(outcome.fetched)
        if outcome.refolded:
            REFOLDS.inc()
