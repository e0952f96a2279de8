"""Connections the apply path keeps checked out of the pool and reuses.

A pooled connection pays a reset round trip on every release (`SELECT
pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`): as much
PostgreSQL work as the single UPDATE that applies an event. The apply path
changes no session state (its transactions end by commit or rollback), so its
connections are kept between applies instead. A connection whose use failed in
any way goes back to the pool, which cleans it up or replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from asyncpg.pool import PoolConnectionProxy


class ConnectionLeases:
    def __init__(self, pool: asyncpg.Pool, size: int) -> None:
        self._pool = pool
        self._slots = asyncio.Semaphore(size)
        self._idle: list[PoolConnectionProxy[asyncpg.Record]] = []

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        """A connection for one use, at most `size` at a time."""
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self._pool.acquire()
            try:
                yield conn
            except BaseException:
                # Shielded: a cancelled caller must still hand the connection back,
                # or the pool would wait for it forever when it closes.
                await asyncio.shield(self._pool.release(conn))
                raise
            self._idle.append(conn)

    async def close(self) -> None:
        """Hands every idle connection back (before the pool closes)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await self._pool.release(conn)
