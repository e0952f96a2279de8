"""GetFundState's row read, batched, with the state only when the reader needs it.

Every GetFundState reads its fund's row (another replica may have applied
events this process has not seen). The reader names the row key it already has
an answer for; the state JSON comes back only when the row is not at that key's
version and fold version, so a cached answer costs a row without its state, and
a missed one needs no second round trip. (Only the two integers are sent: the
reader compares the whole key, update time included, and reads again in the
rare case of a row rewritten at the same version.) The reads share one
connection kept out of the pool (a pooled read pays a reset round trip on every
release) and are batched: the calls that arrive while a read is in flight are
answered together by the next one. A call is never answered by a read that
started before it asked, so it sees every commit that preceded it
(read-your-writes holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from fundledger_platform.db import connection_lost

from projector.adapters.tables import LIVE
from projector.domain.model import FundHead, FundRead, RowKey

log = logging.getLogger(__name__)

_SELECT = (
    "SELECT f.fund_id, f.version, f.position, f.fold_version, f.updated_at, f.tenant, "
    "CASE WHEN f.version = k.version AND f.fold_version = k.fold_version THEN NULL "
    "ELSE f.state END AS state "
    "FROM unnest($1::text[], $2::bigint[], $3::integer[]) AS k(fund_id, version, fold_version) "
    f"JOIN {LIVE} f ON f.fund_id = k.fund_id"
)
# When every caller of a batched read already has an answer (the hot path: all cache hits), the
# lean form: one array, no join, no state. A row that moved on then comes without its state,
# and its reader reads it again with no key (the rare miss costs a second round trip, the
# common hit costs the cheapest query).
_SELECT_HEADS = (
    "SELECT fund_id, version, position, fold_version, updated_at, tenant, NULL::jsonb AS state "
    f"FROM {LIVE} WHERE fund_id = ANY($1::text[])"
)
_SELECT_ONE = (
    "SELECT fund_id, version, position, fold_version, updated_at, tenant, "
    "CASE WHEN version = $2 AND fold_version = $3 THEN NULL ELSE state END AS state "
    f"FROM {LIVE} WHERE fund_id = $1"
)


_UNKNOWN = (None, None, None)


class _Pending:
    __slots__ = ("known", "waiters")

    def __init__(self, known: RowKey | None) -> None:
        # The key every caller of this read knows, or None (they disagree, or know none).
        self.known = known
        self.waiters: list[asyncio.Future[FundRead | None]] = []


class FundHeads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: PoolConnectionProxy[asyncpg.Record] | None = None
        self._pending: dict[str, _Pending] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    async def read(self, fund_id: str, known: RowKey | None) -> FundRead | None:
        if self._closed:
            raise RuntimeError("fund heads closed")
        waiter: asyncio.Future[FundRead | None] = asyncio.get_running_loop().create_future()
        pending = self._pending.get(fund_id)
        if pending is None:
            pending = self._pending[fund_id] = _Pending(known)
        elif pending.known != known:
            pending.known = None
        pending.waiters.append(waiter)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_pending(), name="fund-heads")
        return await waiter

    async def close(self) -> None:
        """Stops reading and gives the connection back (before the pool closes)."""
        self._closed = True
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await self._reader
        await self._drop_connection()

    async def _read_pending(self) -> None:
        while self._pending:
            # One turn of the event loop first: calls already received join this read.
            await asyncio.sleep(0)
            batch, self._pending = self._pending, {}
            try:
                try:
                    records = await self._fetch(batch)
                except Exception as err:
                    if not connection_lost(err):
                        raise
                    # The kept connection died under us (PostgreSQL restarted or failed
                    # over): a read is safe to repeat, once, on a fresh one from the pool.
                    await self._drop_connection()
                    records = await self._fetch(batch)
            except BaseException as err:
                # A broken or cancelled read: the connection goes back to the pool
                # (which cleans up or replaces it) and the callers get the error.
                await self._drop_connection()
                for pending in batch.values():
                    for waiter in pending.waiters:
                        if not waiter.done():
                            waiter.set_exception(
                                err if isinstance(err, Exception) else asyncio.CancelledError()
                            )
                if not isinstance(err, Exception):
                    raise
                continue
            found: dict[str, FundRead] = {}
            for r in records:
                head = FundHead(
                    r["fund_id"],
                    r["version"],
                    r["position"],
                    r["fold_version"],
                    r["updated_at"],
                    r["tenant"],
                )
                found[head.fund_id] = FundRead(head, r["state"])
            for fund_id, pending in batch.items():
                read = found.get(fund_id)
                for waiter in pending.waiters:
                    if not waiter.done():  # the caller may have left (cancelled)
                        waiter.set_result(read)

    async def _fetch(self, batch: dict[str, _Pending]) -> list[asyncpg.Record]:
        conn = self._conn
        if conn is None:
            conn = self._conn = await self._pool.acquire()
        if len(batch) == 1:
            [(fund_id, pending)] = batch.items()
            known = pending.known or _UNKNOWN
            return await conn.fetch(_SELECT_ONE, fund_id, known[0], known[1])
        if all(pending.known is not None for pending in batch.values()):
            return await conn.fetch(_SELECT_HEADS, list(batch))
        knowns = [pending.known or _UNKNOWN for pending in batch.values()]
        return await conn.fetch(
            _SELECT, list(batch), [k[0] for k in knowns], [k[1] for k in knowns]
        )

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await self._pool.release(conn)
            except Exception as err:  # released or terminated either way
                log.debug("releasing the fund-heads connection: %r", err)
