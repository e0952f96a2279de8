"""The rebuild's fresh table and its swap with the live one (RebuildSpace), in SQL.

The swap is one transaction: `LOCK TABLE … IN EXCLUSIVE MODE` on the live table
(it conflicts with the row locks of every apply, of every replica, but not with
plain reads), the final delta, the renames and the checkpoint. The lock wait is
bounded, since every apply waits behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from projector.adapters.conn import Conn
from projector.adapters.fund_table import PgFundTable
from projector.adapters.tables import (
    CHECKPOINT,
    LIVE,
    LIVE_NAME,
    REBUILD_NAME,
    RETIRED_NAME,
    SCHEMA,
    qualified,
)
from projector.service_layer.ports import SwapLockTimeoutError

SWAP_LOCK_TIMEOUT = "10s"


class PgRebuildSpace:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self.table = PgFundTable(conn, qualified(REBUILD_NAME))

    async def create(self) -> None:
        fresh = qualified(REBUILD_NAME)
        await self._conn.execute(
            f"DROP TABLE IF EXISTS {qualified(RETIRED_NAME)}; DROP TABLE IF EXISTS {fresh}; "
            f"CREATE TABLE {fresh} (LIKE {LIVE} INCLUDING ALL)"
        )

    async def drop(self) -> None:
        await self._conn.execute(
            f"DROP TABLE IF EXISTS {qualified(REBUILD_NAME)}; "
            f"DROP TABLE IF EXISTS {qualified(RETIRED_NAME)}"
        )

    async def swap(self, final_delta: Callable[[], Awaitable[int]]) -> int:
        try:
            async with self._conn.transaction():
                await self._conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
                await self._conn.execute(f"LOCK TABLE {LIVE} IN EXCLUSIVE MODE")
                position = await final_delta()
                await _rename(self._conn, LIVE_NAME, RETIRED_NAME)
                await _rename(self._conn, REBUILD_NAME, LIVE_NAME)
                await self._conn.execute(
                    f"UPDATE {CHECKPOINT} SET position = $1, updated_at = clock_timestamp()",
                    position,
                )
                return int(await self._conn.fetchval(f"SELECT count(*) FROM {LIVE}"))
        except asyncpg.LockNotAvailableError:
            raise SwapLockTimeoutError(LIVE) from None


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
