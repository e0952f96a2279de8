"""A projection table in PostgreSQL, as the apply path's FundTable and FundStore ports.

The state is stored as the kernel's JSON (jsonb). The row lock is `SELECT …
FOR UPDATE` inside a transaction; the write over a cached state is one UPDATE
whose WHERE names the version it expects, which PostgreSQL re-checks on the
row it updates after waiting for any other writer. The fund's tenant is recorded by
the first write that knows it and never changed (a fund belongs to one tenant).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from fundledger_kernel.fund import FOLD_VERSION, FundState, empty_state, state_to_json

from projector.adapters.conn import Conn
from projector.adapters.leases import ConnectionLeases
from projector.adapters.tables import LIVE
from projector.domain.model import StoredRow, Written

_UPDATE = (
    "UPDATE {table} SET name = $2, state = $3::jsonb, version = $4, position = $5, "
    "fold_version = $6, tenant = coalesce(tenant, $7), chain_hash = $8, "
    "updated_at = clock_timestamp() "
    "WHERE fund_id = $1"
)
_RETURNING = " RETURNING updated_at, tenant"


class PgFundTable:
    def __init__(self, conn: Conn, table: str) -> None:
        self._conn = conn
        self._table = table

    async def write_at(
        self,
        state: FundState,
        position: int,
        *,
        version: int,
        tenant: str | None,
        chain_hash: bytes | None,
    ) -> Written | None:
        query = _UPDATE.format(table=self._table)
        query += " AND version = $9 AND fold_version = $6" + _RETURNING
        return await _write(self._conn, query, state, position, tenant, chain_hash, version)

    @contextlib.asynccontextmanager
    async def lock(
        self, fund_id: str, *, create: bool, known_version: int
    ) -> AsyncIterator[_Locked | None]:
        async with self._conn.transaction():
            row = await self._lock_row(fund_id, create, known_version)
            yield None if row is None else _Locked(self._conn, self._table, row)

    async def _lock_row(self, fund_id: str, create: bool, known_version: int) -> StoredRow | None:
        # FOR UPDATE waits for any other transaction holding this fund's row, then
        # reads the committed version: the check after it always sees the latest
        # write. The state is sent only when the caller's is not at the stored version.
        select = (
            "SELECT version, position, fold_version, chain_hash, "
            "CASE WHEN version = $2 AND fold_version = $3 THEN NULL ELSE state END AS state "
            f"FROM {self._table} WHERE fund_id = $1 FOR UPDATE"
        )
        record = await self._conn.fetchrow(select, fund_id, known_version, FOLD_VERSION)
        if record is None and create:
            # A new fund: two appliers may both find no row. ON CONFLICT DO NOTHING
            # makes the second wait for the first's commit and insert nothing; the
            # SELECT … FOR UPDATE after it then queues behind the first's lock like
            # any update. The placeholder is never visible at version 0: the same
            # transaction either writes version >= 1 over it or rolls back.
            await self._conn.execute(
                f"INSERT INTO {self._table} (fund_id, name, state, version, position, "
                "fold_version) VALUES ($1, '', $2::jsonb, 0, 0, $3) "
                "ON CONFLICT (fund_id) DO NOTHING",
                fund_id,
                json.dumps(state_to_json(empty_state(fund_id))),
                FOLD_VERSION,
            )
            record = await self._conn.fetchrow(select, fund_id, known_version, FOLD_VERSION)
            if record is None:  # impossible: the row exists and nothing deletes rows
                raise RuntimeError(f"{fund_id}: projection row vanished")
        if record is None:
            return None
        return StoredRow(
            record["version"],
            record["position"],
            record["fold_version"],
            record["state"],
            record["chain_hash"],
        )


@dataclass(frozen=True)
class _Locked:
    conn: Conn
    table: str
    row: StoredRow

    async def write(
        self, state: FundState, position: int, tenant: str | None, *, chain_hash: bytes | None
    ) -> Written:
        query = _UPDATE.format(table=self.table) + _RETURNING
        written = await _write(self.conn, query, state, position, tenant, chain_hash)
        if written is None:  # impossible: the row is locked by this transaction
            raise RuntimeError(f"{state.fund_id}: locked projection row vanished")
        return written


async def _write(
    conn: Conn,
    query: str,
    state: FundState,
    position: int,
    tenant: str | None,
    chain_hash: bytes | None,
    *args: int,
) -> Written | None:
    record = await conn.fetchrow(
        query,
        state.fund_id,
        state.name,
        json.dumps(state_to_json(state)),
        state.version,
        position,
        FOLD_VERSION,
        tenant,
        chain_hash,
        *args,
    )
    return None if record is None else Written(record["updated_at"], record["tenant"])


class LiveFundStore:
    """The live table, one kept connection per apply (see leases.py).

    Fewer concurrent applies than pool connections, so reads (GetFundState,
    status) always find a connection — also while a rebuild's swap holds the
    table lock and every apply waits on it.
    """

    def __init__(self, pool: asyncpg.Pool, concurrency: int) -> None:
        self._leases = ConnectionLeases(pool, concurrency)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[PgFundTable]:
        async with self._leases.lease() as conn:
            yield PgFundTable(conn, LIVE)

    async def close(self) -> None:
        """Gives the kept connections back to the pool (before it closes)."""
        await self._leases.close()
