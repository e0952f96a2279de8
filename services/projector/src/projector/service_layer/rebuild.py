"""RebuildProjection: replay the whole log into a fresh table, then swap it in.

1. Under the rebuild lock (adapters/rebuild_lock.py), create `fund_state_rebuild`
   like the live table and replay every fund event into it through the same
   exactly-once apply the live path uses. The live table keeps serving
   and keeps being applied to meanwhile.
2. The swap, one transaction: LOCK the live table IN EXCLUSIVE MODE. That mode
   conflicts with the row locks every apply transaction takes (SELECT … FOR
   UPDATE, UPDATE) but not with plain reads, so it waits for in-flight applies
   of every replica to commit and then pauses new ones, while GetFundState
   keeps reading. Every event an apply committed to the old table was in the
   log before that apply began, hence before the lock was granted, so reading
   the log *after* the lock (the final delta) brings the new table to at least
   the old one's state for every fund. Then rename old -> retired and new ->
   live (with their indexes) and set the checkpoint to the delta's end; commit.
   Applies that waited on the lock resolve the table name again once they get
   it, and continue on the new table. Events appended after the delta read go
   there through the live path as usual.
3. Drop the retired table (after the commit: readers queued on it finish first).

A fund whose log cannot be folded fails the rebuild with DATA_LOSS naming it
(fund_log_data_loss), and nothing is swapped: a rebuilt projection is exact or
not swapped in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from fundledger_kernel.fund.fold_input import FundLogError
from fundledger_platform.errors import Aborted, FailedPrecondition, Unavailable
from fundledger_platform.reasons import Reason
from fundledger_platform.recorded import fund_log_data_loss

from projector.domain.batches import by_fund
from projector.metrics import REBUILDS, REFOLDS
from projector.service_layer.apply import apply_events
from projector.service_layer.ports import (
    EventLog,
    FundTable,
    RebuildLock,
    SwapLockTimeoutError,
)
from projector.service_layer.waiters import VersionWaiters

log = logging.getLogger(__name__)

# Bound on reading and applying the final delta, during which every apply waits.
SWAP_DELTA_SECONDS = 15.0


@dataclass(frozen=True)
class RebuildResult:
    fund_count: int
    events_replayed: int
    position: int


class Rebuilder:
    def __init__(
        self,
        lock: RebuildLock,
        source: EventLog,
        waiters: VersionWaiters,
        *,
        page_size: int,
    ) -> None:
        self._lock = lock
        self._source = source
        self._waiters = waiters
        self._page_size = page_size
        self._task: asyncio.Task[RebuildResult] | None = None

    async def rebuild(self) -> RebuildResult:
        """Run a rebuild and return its result; FailedPrecondition if one is running.

        The rebuild runs as a task of its own: a caller that gives up (deadline,
        cancel) does not abandon it half way, it finishes and swaps anyway.
        """
        if self._task is not None and not self._task.done():
            raise _in_progress()
        self._task = asyncio.create_task(self._run(), name="projection-rebuild")
        self._task.add_done_callback(_log_outcome)
        return await asyncio.shield(self._task)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> RebuildResult:
        async with self._lock.space() as space:
            if space is None:
                raise _in_progress()
            position, replayed = await self._replay(space.table, 0)
            delta = 0

            async def final_delta() -> int:
                nonlocal position, delta
                try:
                    async with asyncio.timeout(SWAP_DELTA_SECONDS):
                        position, delta = await self._replay(space.table, position)
                except TimeoutError:
                    raise Unavailable(
                        "the event store was too slow to finish the rebuild; nothing was swapped",
                        reason=Reason.REBUILD_SWAP_TIMEOUT,
                    ) from None
                return position

            try:
                fund_count = await space.swap(final_delta)
            except SwapLockTimeoutError:
                raise Aborted(
                    "the live projection stayed busy for too long to swap; nothing was swapped",
                    reason=Reason.REBUILD_SWAP_LOCK_TIMEOUT,
                ) from None
        REBUILDS.inc()
        # States may differ from the old table's (a new fold): let waiters re-read.
        self._waiters.notify_all()
        return RebuildResult(fund_count, replayed + delta, position)

    async def _replay(self, table: FundTable, after: int) -> tuple[int, int]:
        """Apply every fund event after position `after` to the rebuild table."""
        cursor, replayed = after, 0
        while True:
            page = await self._source.read_funds(
                from_position=cursor + 1, max_count=self._page_size
            )
            if not page:
                return cursor, replayed
            for fund_id, group in by_fund(page).items():
                try:
                    outcome = await apply_events(table, self._source, fund_id, group)
                except FundLogError as err:
                    raise fund_log_data_loss(err) from None
                # A backdated event in a later page than the events it sorts before.
                if outcome.refold_cause is not None:
                    REFOLDS.labels(cause=outcome.refold_cause).inc()
            replayed += len(page)
            cursor = page[-1].position
            if len(page) < self._page_size:
                return cursor, replayed


def _in_progress() -> FailedPrecondition:
    return FailedPrecondition(
        "a projection rebuild is already running", reason=Reason.REBUILD_IN_PROGRESS
    )


def _log_outcome(task: asyncio.Task[RebuildResult]) -> None:
    # Retrieves the exception, so a rebuild whose caller left is still reported.
    if task.cancelled():
        return
    err = task.exception()
    if err is None:
        result = task.result()
        log.info(
            "projection rebuilt: %d funds, %d events, position %d",
            result.fund_count,
            result.events_replayed,
            result.position,
        )
    elif not isinstance(err, FailedPrecondition):
        log.error("projection rebuild failed", exc_info=err)
