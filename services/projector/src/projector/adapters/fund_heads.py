"""GetFundState's row read: a fund's version and update time, without its state, batched.

Every GetFundState reads its fund's row (another replica may have applied
events this process has not seen), but a cached answer needs only the row's
version, fold version, position and update time — not the state JSON. The
reads share one connection kept out of the pool (a pooled read pays a reset
round trip on every release) and are batched: the calls that arrive while a
read is in flight are answered together by the next one, `WHERE fund_id =
ANY($1)`. A call is never answered by a read that started before it asked, so
it sees every commit that preceded it (read-your-writes holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from projector.adapters.tables import LIVE

log = logging.getLogger(__name__)

_SELECT = (
    "SELECT fund_id, version, position, fold_version, updated_at "
    f"FROM {LIVE} WHERE fund_id = ANY($1::text[])"
)
_SELECT_ONE = (
    f"SELECT fund_id, version, position, fold_version, updated_at FROM {LIVE} WHERE fund_id = $1"
)


@dataclass(frozen=True, slots=True)
class FundHead:
    fund_id: str
    version: int
    position: int
    fold_version: int
    updated_at: datetime


class FundHeads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: PoolConnectionProxy[asyncpg.Record] | None = None
        self._pending: dict[str, list[asyncio.Future[FundHead | None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    async def get(self, fund_id: str) -> FundHead | None:
        """The fund's row as committed when (or after) this call was made; None if none."""
        if self._closed:
            raise RuntimeError("fund heads closed")
        waiter: asyncio.Future[FundHead | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(fund_id, []).append(waiter)
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
                conn = self._conn
                if conn is None:
                    conn = self._conn = await self._pool.acquire()
                if len(batch) == 1:
                    records = await conn.fetch(_SELECT_ONE, next(iter(batch)))
                else:
                    records = await conn.fetch(_SELECT, list(batch))
            except BaseException as err:
                # A broken or cancelled read: the connection goes back to the pool
                # (which cleans up or replaces it) and the callers get the error.
                await self._drop_connection()
                for waiters in batch.values():
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(
                                err if isinstance(err, Exception) else asyncio.CancelledError()
                            )
                if not isinstance(err, Exception):
                    raise
                continue
            found = {
                r["fund_id"]: FundHead(
                    r["fund_id"], r["version"], r["position"], r["fold_version"], r["updated_at"]
                )
                for r in records
            }
            for fund_id, waiters in batch.items():
                head = found.get(fund_id)
                for waiter in waiters:
                    if not waiter.done():  # the caller may have left (cancelled)
                        waiter.set_result(head)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await self._pool.release(conn)
            except Exception as err:  # released or terminated either way
                log.debug("releasing the fund-heads connection: %r", err)
