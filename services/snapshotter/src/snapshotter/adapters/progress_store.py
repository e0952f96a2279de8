"""Per-fund progress and the catch-up checkpoint in PostgreSQL (schema `snapshotter`)."""

from __future__ import annotations

import asyncpg

from snapshotter.domain.model import Progress


class PostgresProgressStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def seen_version(self, fund_id: str) -> int:
        value = await self._pool.fetchval(
            "SELECT last_version FROM snapshotter.fund_progress WHERE fund_id = $1", fund_id
        )
        return 0 if value is None else int(value)

    async def tenant_of(self, fund_id: str) -> str | None:
        tenant: str | None = await self._pool.fetchval(
            "SELECT tenant FROM snapshotter.fund_progress WHERE fund_id = $1", fund_id
        )
        return tenant

    async def advance(self, progress: Progress) -> None:
        # Only forwards: the bus handler and the catch-up may report the same
        # fund concurrently and in either order; the WHERE makes the later
        # version win whatever the commit order. The tenant is recorded once.
        await self._pool.execute(
            "INSERT INTO snapshotter.fund_progress AS p "
            "(fund_id, last_version, last_position, last_event_time, tenant) "
            "VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (fund_id) DO UPDATE SET last_version = excluded.last_version, "
            "last_position = excluded.last_position, "
            "last_event_time = excluded.last_event_time, "
            "tenant = coalesce(p.tenant, excluded.tenant), updated_at = now() "
            "WHERE p.last_version < excluded.last_version",
            progress.fund_id,
            progress.version,
            progress.position,
            progress.event_time,
            progress.tenant,
        )

    async def changed_since_snapshot(self, fold_version: int) -> list[str]:
        """Funds with events after their newest snapshot of this fold (or with none)."""
        rows = await self._pool.fetch(
            "SELECT fund_id FROM snapshotter.fund_progress WHERE last_version > 0 "
            "AND (last_snapshot_fold_version IS DISTINCT FROM $1 "
            "OR last_version > last_snapshot_version) ORDER BY fund_id",
            fold_version,
        )
        return [row["fund_id"] for row in rows]

    async def checkpoint(self) -> int:
        return int(await self._pool.fetchval("SELECT position FROM snapshotter.catchup_checkpoint"))

    async def save_checkpoint(self, position: int) -> None:
        # greatest(): two overlapping catch-ups (a slow round and the next)
        # must not move the checkpoint backwards.
        await self._pool.execute(
            "UPDATE snapshotter.catchup_checkpoint "
            "SET position = greatest(position, $1), updated_at = now()",
            position,
        )
