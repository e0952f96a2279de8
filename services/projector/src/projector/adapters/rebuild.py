"""RebuildProjection: replay the whole log into a fresh table, then swap it in.

1. Under the rebuild lock (rebuild_lock.py), create `fund_state_rebuild` like
   the live table and replay every fund event into it through the same
   exactly-once transaction the live path uses. The live table keeps serving
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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import asyncpg
from fundledger.eventstore.v1.events_pb2 import RecordedEvent
from fundledger_kernel.streams import FUND_CATEGORY
from fundledger_platform.errors import Aborted, FailedPrecondition, Unavailable

from projector.adapters import rebuild_lock
from projector.adapters.apply_tx import apply_on
from projector.adapters.conn import Conn
from projector.adapters.event_source import EventSource, read_page
from projector.adapters.tables import (
    CHECKPOINT,
    LIVE,
    LIVE_NAME,
    REBUILD_NAME,
    RETIRED_NAME,
    SCHEMA,
    qualified,
)
from projector.adapters.waiters import VersionWaiters
from projector.metrics import REBUILDS

log = logging.getLogger(__name__)

# Bounds on the swap, during which every apply transaction waits: waiting for the
# table lock, and reading plus applying the final delta.
SWAP_LOCK_TIMEOUT = "10s"
SWAP_DELTA_SECONDS = 15.0


@dataclass(frozen=True)
class RebuildResult:
    fund_count: int
    events_replayed: int
    position: int


class Rebuilder:
    def __init__(
        self,
        database_url: str,
        source: EventSource,
        waiters: VersionWaiters,
        *,
        page_size: int,
    ) -> None:
        self._dsn = database_url
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
        conn: Conn = await asyncpg.connect(self._dsn)
        try:
            if not await rebuild_lock.try_lock(conn):
                raise _in_progress()
            try:
                return await self._rebuild(conn)
            finally:
                # After a swap the name is free again and this is a no-op; after a
                # failure it removes the half-built table.
                with contextlib.suppress(Exception):
                    await conn.execute(f"DROP TABLE IF EXISTS {qualified(REBUILD_NAME)}")
                with contextlib.suppress(Exception):
                    await rebuild_lock.unlock(conn)
        finally:
            await conn.close()

    async def _rebuild(self, conn: Conn) -> RebuildResult:
        fresh = qualified(REBUILD_NAME)
        await conn.execute(
            f"DROP TABLE IF EXISTS {qualified(RETIRED_NAME)}; DROP TABLE IF EXISTS {fresh}; "
            f"CREATE TABLE {fresh} (LIKE {LIVE} INCLUDING ALL)"
        )
        position, replayed = await self._replay(conn, 0)
        try:
            position, delta, fund_count = await self._swap(conn, position)
        except asyncpg.LockNotAvailableError:
            raise Aborted(
                "the live projection stayed busy for too long to swap; nothing was swapped",
                reason="REBUILD_SWAP_LOCK_TIMEOUT",
            ) from None
        await conn.execute(f"DROP TABLE IF EXISTS {qualified(RETIRED_NAME)}")
        REBUILDS.inc()
        # States may differ from the old table's (a new fold): let waiters re-read.
        self._waiters.notify_all()
        return RebuildResult(fund_count, replayed + delta, position)

    async def _swap(self, conn: Conn, position: int) -> tuple[int, int, int]:
        """Final delta and table swap in one transaction (see the module docstring)."""
        async with conn.transaction():
            # Bounded: every apply transaction waits while we hold this lock.
            await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
            await conn.execute(f"LOCK TABLE {LIVE} IN EXCLUSIVE MODE")
            try:
                async with asyncio.timeout(SWAP_DELTA_SECONDS):
                    position, delta = await self._replay(conn, position)
            except TimeoutError:
                raise Unavailable(
                    "the event store was too slow to finish the rebuild; nothing was swapped",
                    reason="REBUILD_SWAP_TIMEOUT",
                ) from None
            await _rename(conn, LIVE_NAME, RETIRED_NAME)
            await _rename(conn, REBUILD_NAME, LIVE_NAME)
            await conn.execute(
                f"UPDATE {CHECKPOINT} SET position = $1, updated_at = clock_timestamp()", position
            )
            fund_count = int(await conn.fetchval(f"SELECT count(*) FROM {LIVE}"))
        return position, delta, fund_count

    async def _replay(self, conn: Conn, after: int) -> tuple[int, int]:
        """Apply every fund event after position `after` to the rebuild table."""
        cursor, replayed = after, 0
        while True:
            page = await read_page(self._source, cursor + 1, [FUND_CATEGORY], self._page_size)
            if not page:
                return cursor, replayed
            groups: dict[str, list[RecordedEvent]] = {}
            for event in page:
                groups.setdefault(event.stream_id, []).append(event)
            for fund_id, group in groups.items():
                await apply_on(conn, qualified(REBUILD_NAME), self._source, fund_id, group)
            replayed += len(page)
            cursor = page[-1].position
            if len(page) < self._page_size:
                return cursor, replayed


async def _rename(conn: Conn, old: str, new: str) -> None:
    """Rename table `old` to `new`, and its indexes (named `<table>_…`) to match.

    Index names are unique per schema: without this the next rebuild's copy could
    not create its `fund_state_rebuild_pkey` while the swapped-in table holds it.
    """
    indexes = await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2", SCHEMA, old
    )
    await conn.execute(f'ALTER TABLE {SCHEMA}."{old}" RENAME TO "{new}"')
    for record in indexes:
        name: str = record["indexname"]
        if name.startswith(old):
            await conn.execute(f'ALTER INDEX {SCHEMA}."{name}" RENAME TO "{new}{name[len(old) :]}"')


def _in_progress() -> FailedPrecondition:
    return FailedPrecondition(
        "a projection rebuild is already running", reason="REBUILD_IN_PROGRESS"
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
