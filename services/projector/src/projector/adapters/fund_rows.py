"""Reads of the live projection table, and the catch-up checkpoint (ProjectionRows).

The reads made for a caller (ListFunds, the fund count, a tenant's rebuild) are narrowed to
the caller's tenant in SQL by the platform's one helper, tenant_sql.scoped (docs/security.md,
"Isolation"); the catch-up's reads run as the projector itself and see every fund."""

from __future__ import annotations

from collections.abc import Collection

import asyncpg
from fundledger_platform.tenant_sql import scoped

from projector.adapters.tables import CHECKPOINT, LIVE
from projector.domain.model import FundRow

_COLUMNS = "fund_id, name, state, version, fold_version, updated_at"


def _row_of(record: asyncpg.Record) -> FundRow:
    return FundRow(
        fund_id=record["fund_id"],
        name=record["name"],
        version=record["version"],
        fold_version=record["fold_version"],
        updated_at=record["updated_at"],
        state_text=record["state"],
    )


class PgProjectionRows:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(self, after: str | None, limit: int) -> list[FundRow]:
        query, args = scoped(
            f"SELECT {_COLUMNS} FROM {LIVE} WHERE ($1::text IS NULL OR fund_id > $1) "
            "AND {tenant} ORDER BY fund_id LIMIT $2",
            after,
            limit,
        )
        records = await self._pool.fetch(query, *args)
        return [_row_of(r) for r in records]

    async def tenant_funds(self, after: str | None, limit: int) -> list[str]:
        query, args = scoped(
            f"SELECT fund_id FROM {LIVE} WHERE ($1::text IS NULL OR fund_id > $1) "
            "AND {tenant} ORDER BY fund_id LIMIT $2",
            after,
            limit,
        )
        records = await self._pool.fetch(query, *args)
        return [r["fund_id"] for r in records]

    async def count(self) -> int:
        query, args = scoped(f"SELECT count(*) FROM {LIVE} WHERE {{tenant}}")
        return int(await self._pool.fetchval(query, *args))

    async def versions(self, fund_ids: Collection[str]) -> dict[str, tuple[int, int]]:
        if not fund_ids:
            return {}
        records = await self._pool.fetch(
            f"SELECT fund_id, version, fold_version FROM {LIVE} WHERE fund_id = ANY($1::text[])",
            list(fund_ids),
        )
        return {r["fund_id"]: (r["version"], r["fold_version"]) for r in records}

    async def stale(self, fold_version: int, after: str | None, limit: int) -> list[str]:
        # The JSON carries the fold version too (state_from_json checks it): a row whose two
        # disagree (a hand edit, a partial restore) cannot be read either. Reading the JSON
        # costs a full scan, done at start-up only and in the background (fold_upgrade.py).
        records = await self._pool.fetch(
            f"SELECT fund_id FROM {LIVE} WHERE (fold_version <> $1 "
            "OR (state->>'fold_version') IS DISTINCT FROM $1::text) "
            "AND ($2::text IS NULL OR fund_id > $2) ORDER BY fund_id LIMIT $3",
            fold_version,
            after,
            limit,
        )
        return [r["fund_id"] for r in records]

    async def checkpoint(self) -> int:
        return int(await self._pool.fetchval(f"SELECT position FROM {CHECKPOINT}"))

    async def advance_checkpoint(self, position: int) -> None:
        # greatest(): a catch-up pass that started before a rebuild swap may finish
        # after it, with a lower position than the swap wrote; the checkpoint only
        # ever moves forward.
        await self._pool.execute(
            f"UPDATE {CHECKPOINT} SET position = greatest(position, $1), "
            "updated_at = clock_timestamp()",
            position,
        )
