"""Catch-up from the log: the bus is a wake-up, PostgreSQL is the truth (FM-13).

JetStream can lose acknowledged messages (a crash before fsync, a wiped
store), and then the bus alone would never deliver the event that crosses a
multiple of N. So at start-up and every few seconds the snapshotter reads the
fund category of the log from its checkpoint and feeds each fund's newest event
to the same Tracker the bus handler uses. Doing the work twice is harmless: the
Tracker decides by versions and the snapshots are idempotent.

A fund whose log cannot be folded (the kernel's FundLogError) is logged and
passed over: the other funds keep their snapshots and the checkpoint moves on,
so no round spins on it. The fund's progress stays behind, so its missing count
snapshot is tried again on its next event (after an operator repaired its log).
"""

from __future__ import annotations

import asyncio
import logging

from fundledger_kernel.fund.fold_input import FundLogError, LoggedEvent
from fundledger_kernel.streams import FUND_CATEGORY

from snapshotter.domain.model import Progress
from snapshotter.metrics import CATCHUP_EVENTS
from snapshotter.service_layer.ports import EventLog, ProgressStore
from snapshotter.service_layer.tracker import Tracker

log = logging.getLogger(__name__)

PAGE = 1000


class CatchUp:
    def __init__(
        self, events: EventLog, progress: ProgressStore, tracker: Tracker, page: int = PAGE
    ) -> None:
        self._events = events
        self._progress = progress
        self._tracker = tracker
        self._page = page

    async def run_once(self) -> int:
        """Reads the log from the checkpoint to its head; returns the events read."""
        position = await self._progress.checkpoint()
        total = 0
        while True:
            events = await self._events.read_all(
                from_position=position + 1, categories=[FUND_CATEGORY], max_count=self._page
            )
            if not events:
                return total
            # Only each fund's newest event matters: the Tracker takes every
            # count target between what it saw before and that version.
            newest: dict[str, LoggedEvent] = {}
            for event in events:
                newest[event.stream_id] = event
            for event in newest.values():
                try:
                    await self._tracker.advance(Progress.of(event))
                except FundLogError as err:
                    log.error(
                        "catch-up passes over %s: its log cannot be folded (%s)",
                        err.fund_id,
                        err,
                        extra={"fund_id": err.fund_id, "version": err.version},
                    )
            # Safe to move past the page: the log commits in position order, so
            # no event can still appear below a position already read.
            position = events[-1].position
            await self._progress.save_checkpoint(position)
            total += len(events)
            CATCHUP_EVENTS.inc(len(events))
            if len(events) < self._page:
                return total

    async def run(self, interval_seconds: float) -> None:
        """run_once now and then every `interval_seconds`, until cancelled."""
        while True:
            try:
                read = await self.run_once()
                if read:
                    log.info("catch-up read %d fund events from the log", read)
            except Exception as err:
                # The event store may be restarting; the next round resumes from
                # the checkpoint.
                log.warning("catch-up failed, retrying in %.0fs: %r", interval_seconds, err)
            await asyncio.sleep(interval_seconds)
