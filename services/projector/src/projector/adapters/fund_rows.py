"""Reads of the live projection table and the catch-up checkpoint."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from fundledger_kernel.fund import FundState, state_from_json

from projector.adapters.tables import CHECKPOINT, LIVE

_COLUMNS = "fund_id, name, state, version, position, fold_version, updated_at"


@dataclass(frozen=True)
class FundRow:
    fund_id: str
    name: str
    # The stored JSON text, parsed only when the state is needed: a reader
    # answered from the response cache never pays for it.
    state_text: str
    version: int
    position: int
    fold_version: int
    updated_at: datetime

    def state(self) -> FundState:
        """The stored state; StoredStateError (FoldVersionMismatchError) when unreadable."""
        return state_from_json(json.loads(self.state_text))


def row_of(record: asyncpg.Record) -> FundRow:
    return FundRow(
        fund_id=record["fund_id"],
        name=record["name"],
        state_text=record["state"],
        version=record["version"],
        position=record["position"],
        fold_version=record["fold_version"],
        updated_at=record["updated_at"],
    )


class FundRows:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, fund_id: str) -> FundRow | None:
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM {LIVE} WHERE fund_id = $1", fund_id
        )
        return None if record is None else row_of(record)

    async def page(self, after: str | None, limit: int) -> list[FundRow]:
        """Funds in fund id order, strictly after `after` (keyset paging: stable under inserts)."""
        records = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM {LIVE} WHERE ($1::text IS NULL OR fund_id > $1) "
            "ORDER BY fund_id LIMIT $2",
            after,
            limit,
        )
        return [row_of(r) for r in records]

    async def count(self) -> int:
        return int(await self._pool.fetchval(f"SELECT count(*) FROM {LIVE}"))

    async def versions(self, fund_ids: Collection[str]) -> dict[str, tuple[int, int]]:
        """(version, fold_version) of each of `fund_ids` that has a row."""
        if not fund_ids:
            return {}
        records = await self._pool.fetch(
            f"SELECT fund_id, version, fold_version FROM {LIVE} WHERE fund_id = ANY($1::text[])",
            list(fund_ids),
        )
        return {r["fund_id"]: (r["version"], r["fold_version"]) for r in records}

    async def stale(self, fold_version: int, limit: int) -> list[str]:
        """Funds whose stored state another fold version computed."""
        records = await self._pool.fetch(
            f"SELECT fund_id FROM {LIVE} WHERE fold_version <> $1 ORDER BY fund_id LIMIT $2",
            fold_version,
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
