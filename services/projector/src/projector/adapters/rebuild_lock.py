"""One rebuild at a time, across every replica: a session advisory lock.

Held on a dedicated connection (never a pooled one, FM-14 in docs/failure-modes.md: a pooled
connection goes back to the pool still holding a session lock) for the whole
rebuild; if the process dies, its connection closes and the lock goes with it.
The same connection builds the fresh table and swaps it in (rebuild_space.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from projector.adapters.conn import Conn
from projector.adapters.rebuild_space import PgRebuildSpace

# Two int4 keys ("PROJ", "RBLD"); pg_locks shows them as classid/objid, objsubid 2.
KEYS = (0x50524F4A, 0x52424C44)


async def try_lock(conn: Conn) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *KEYS))


async def unlock(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", *KEYS)


class PgRebuildLock:
    def __init__(self, database_url: str, pool: asyncpg.Pool) -> None:
        self._dsn = database_url
        self._pool = pool

    @contextlib.asynccontextmanager
    async def space(self) -> AsyncIterator[PgRebuildSpace | None]:
        conn: Conn = await asyncpg.connect(self._dsn)
        try:
            if not await try_lock(conn):
                yield None
                return
            try:
                space = PgRebuildSpace(conn)
                await space.create()
                yield space
            finally:
                # After a swap the fresh table's name is free again and this drops
                # the retired one; after a failure it removes the half-built table.
                with contextlib.suppress(Exception):
                    await space.drop()
                with contextlib.suppress(Exception):
                    await unlock(conn)
        finally:
            await conn.close()

    async def running(self) -> bool:
        """True while any session of this database holds the rebuild lock."""
        return bool(
            await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d "
                "ON d.oid = l.database WHERE l.locktype = 'advisory' "
                "AND d.datname = current_database() AND l.classid = $1 AND l.objid = $2 "
                "AND l.objsubid = 2 AND l.granted)",
                *KEYS,
            )
        )
