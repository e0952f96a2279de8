"""Catch-up from the log: the bus is a fast path, the event store is the truth.

JetStream can lose acknowledged messages (a wiped or crashed store, FM-13 in docs/failure-modes.md),
a message past its max-age is gone, and a fund whose last events were lost never
gets a later delivery to trigger a gap fill. So at start-up and every
PROJECTOR_CATCHUP_SECONDS the projector reads every fund event after its
checkpoint from the event store and sends it through the same exactly-once
path; what the bus already applied is skipped as a duplicate.

The checkpoint is "every fund event at or below it is applied", moved only here
after a page was applied completely. It is deliberately not the highest
position applied: the bus applies funds in parallel and out of global order, so
fund B's event at position 11 can be applied while fund A's event at 10 is
still lost, and resuming after 11 would skip A's event for good. Reading the log
in position order is safe because the event store commits in position order:
nothing can appear below a position already read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
from fundledger_kernel.streams import FUND_CATEGORY

from projector.adapters.applier import Applier
from projector.adapters.event_source import EventSource, read_page
from projector.adapters.fund_rows import FundRows

log = logging.getLogger(__name__)


class CatchUp:
    def __init__(
        self,
        applier: Applier,
        rows: FundRows,
        source: EventSource,
        *,
        page_size: int,
        interval_seconds: float,
        after_pass: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._applier = applier
        self._rows = rows
        self._source = source
        self._page_size = page_size
        self._interval = interval_seconds
        self._after_pass = after_pass
        # One pass at a time per process: two would only do the same work twice.
        self._lock = asyncio.Lock()

    async def run_once(self) -> int:
        """Apply every fund event after the checkpoint; returns events applied."""
        async with self._lock:
            cursor = await self._rows.checkpoint()
            applied = 0
            while True:
                page = await read_page(self._source, cursor + 1, [FUND_CATEGORY], self._page_size)
                if not page:
                    break
                applied += await self._applier.apply_page(page)
                cursor = page[-1].position
                await self._rows.advance_checkpoint(cursor)
                if len(page) < self._page_size:
                    break
            if applied:
                log.info("catch-up applied %d events from the log", applied)
            return applied

    async def run_forever(self) -> None:
        first = True
        while True:
            try:
                if first:
                    # A fold version change leaves rows this fold cannot read.
                    refolded = await self._applier.refold_stale()
                    if refolded:
                        log.info("refolded %d funds written by another fold version", refolded)
                await self.run_once()
                first = False
                if self._after_pass is not None:
                    await self._after_pass()
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as err:
                if err.code() is not grpc.StatusCode.UNAVAILABLE:
                    log.exception("catch-up pass failed; retrying next round")
                else:  # the event store is starting or restarting: expected, no traceback
                    log.warning("catch-up: event store unavailable; retrying next round")
            except Exception:
                log.exception("catch-up pass failed; retrying next round")
            await asyncio.sleep(self._interval)
