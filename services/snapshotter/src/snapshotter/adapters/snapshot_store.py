"""Snapshots in PostgreSQL (schema `snapshotter`).

Each row records the fund's tenant; every read is narrowed to the caller's tenant in SQL by
the platform's one helper (tenant_sql.scoped: every row for the snapshotter's own triggers,
the caller's tenant's for a person's call), so another tenant's snapshot is never read for
them, whatever the use case checked before (docs/security.md, "Isolation")."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from fundledger_platform.tenant_sql import scoped

from snapshotter.domain.axes import Axes
from snapshotter.domain.model import Snapshot, Trigger
from snapshotter.service_layer.ports import StateJson

_COLUMNS = (
    "snapshot_id, fund_id, version, position, event_time, fold_version, trigger, "
    "events_since_previous, created_at, tenant, effective_through, chain_hash"
)


def _snapshot(row: asyncpg.Record) -> Snapshot:
    return Snapshot(
        snapshot_id=row["snapshot_id"],
        fund_id=row["fund_id"],
        version=row["version"],
        position=row["position"],
        event_time=row["event_time"],
        fold_version=row["fold_version"],
        trigger=Trigger(row["trigger"]),
        events_since_previous=row["events_since_previous"],
        created_at=row["created_at"],
        tenant=row["tenant"],
        effective_through=row["effective_through"],
        chain_hash=row["chain_hash"],
    )


def _with_state(row: asyncpg.Record | None) -> tuple[Snapshot, StateJson] | None:
    if row is None:
        return None
    state: dict[str, Any] = json.loads(row["state"])
    return _snapshot(row), state


class PostgresSnapshotStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, fund_id: str, version: int, fold_version: int) -> Snapshot | None:
        query, args = scoped(
            f"SELECT {_COLUMNS} FROM snapshotter.snapshots "
            "WHERE fund_id = $1 AND version = $2 AND fold_version = $3 AND {tenant}",
            fund_id,
            version,
            fold_version,
        )
        row = await self._pool.fetchrow(query, *args)
        return None if row is None else _snapshot(row)

    async def newest_within(
        self,
        fund_id: str,
        fold_version: int,
        axes: Axes,
        *,
        below_version: int | None = None,
        effective_through_at_most: datetime | None = None,
    ) -> tuple[Snapshot, StateJson] | None:
        # Only this fold's snapshots: another fold's state may mean something else and must
        # never be read as this one's (FM-11, docs/failure-modes.md). Chosen by event_time —
        # the recorded time of the snapshot's last event — never by created_at (FM-10), and by
        # effective_through (Axes.holds; NULL: written before business time, never used). The
        # newest by version: recorded_at never decreases as the version grows, so it is also
        # the newest by event_time.
        query, args = scoped(
            f"SELECT {_COLUMNS}, state::text AS state FROM snapshotter.snapshots "
            "WHERE fund_id = $1 AND fold_version = $2 AND effective_through IS NOT NULL "
            "AND ($3::bigint IS NULL OR version <= $3) "
            "AND ($4::timestamptz IS NULL OR event_time <= $4) "
            "AND ($5::timestamptz IS NULL OR effective_through <= $5) "
            "AND ($6::bigint IS NULL OR version < $6) "
            "AND ($7::timestamptz IS NULL OR effective_through <= $7) "
            "AND {tenant} ORDER BY version DESC LIMIT 1",
            fund_id,
            fold_version,
            axes.at_version,
            axes.known_at,
            axes.effective_at,
            below_version,
            effective_through_at_most,
        )
        return _with_state(await self._pool.fetchrow(query, *args))

    async def stale(self, fold_version: int, limit: int) -> list[Snapshot]:
        """Snapshots of other fold versions with no snapshot of `fold_version` at their (fund,
        version) yet: what the upkeep re-takes (service_layer/refold.py), by fund and version
        so each fund's are folded from the one re-taken just below."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM snapshotter.snapshots s WHERE s.fold_version <> $1 "
            "AND NOT EXISTS (SELECT 1 FROM snapshotter.snapshots c WHERE c.fund_id = s.fund_id "
            "AND c.version = s.version AND c.fold_version = $1) "
            "ORDER BY s.fund_id, s.version, s.fold_version DESC LIMIT $2",
            fold_version,
            limit,
        )
        return [_snapshot(row) for row in rows]

    async def save(self, snapshot: Snapshot, state: StateJson) -> tuple[Snapshot, bool]:
        async with self._pool.acquire() as conn, conn.transaction():
            # ON CONFLICT DO NOTHING is right here (unlike for events, FM-3):
            # the row at this key is by construction the same state, computed
            # by the same fold from the same log. A concurrent writer's insert
            # makes ours wait for its commit; the SELECT that follows is a new
            # statement, so under READ COMMITTED it sees the winner's row.
            row = await conn.fetchrow(
                "INSERT INTO snapshotter.snapshots (snapshot_id, fund_id, version, position, "
                "event_time, fold_version, trigger, events_since_previous, state, tenant, "
                "effective_through, chain_hash) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12) "
                "ON CONFLICT (fund_id, version, fold_version) DO NOTHING "
                f"RETURNING {_COLUMNS}",
                snapshot.snapshot_id,
                snapshot.fund_id,
                snapshot.version,
                snapshot.position,
                snapshot.event_time,
                snapshot.fold_version,
                snapshot.trigger.value,
                snapshot.events_since_previous,
                json.dumps(state, separators=(",", ":")),
                snapshot.tenant,
                snapshot.effective_through,
                snapshot.chain_hash,
            )
            created = row is not None
            if row is None:
                row = await conn.fetchrow(
                    f"SELECT {_COLUMNS} FROM snapshotter.snapshots "
                    "WHERE fund_id = $1 AND version = $2 AND fold_version = $3",
                    snapshot.fund_id,
                    snapshot.version,
                    snapshot.fold_version,
                )
            # In the same transaction, so the daily trigger's "changed since the
            # last snapshot" can never disagree with the snapshots table.
            await conn.execute(
                "INSERT INTO snapshotter.fund_progress AS p "
                "(fund_id, last_snapshot_version, last_snapshot_fold_version, tenant) "
                "VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (fund_id) DO UPDATE SET "
                "tenant = coalesce(p.tenant, excluded.tenant), "
                "last_snapshot_version = CASE "
                "WHEN p.last_snapshot_fold_version = excluded.last_snapshot_fold_version "
                "THEN greatest(p.last_snapshot_version, excluded.last_snapshot_version) "
                "ELSE excluded.last_snapshot_version END, "
                "last_snapshot_fold_version = excluded.last_snapshot_fold_version, "
                "updated_at = now()",
                snapshot.fund_id,
                snapshot.version,
                snapshot.fold_version,
                snapshot.tenant,
            )
        if row is None:  # a conflict means a row exists; only a concurrent delete gets here
            raise RuntimeError(f"snapshot {snapshot.fund_id} v{snapshot.version} vanished")
        return _snapshot(row), created

    async def covers(self, fund_id: str, version: int, fold_version: int) -> bool:
        return bool(
            await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM snapshotter.snapshots "
                "WHERE fund_id = $1 AND fold_version = $3 AND version >= $2)",
                fund_id,
                version,
                fold_version,
            )
        )

    async def page(
        self, fund_id: str, before: tuple[int, int] | None, limit: int
    ) -> list[Snapshot]:
        """Newest first, by (version, fold_version) — the unique key, so the
        keyset cursor `before` neither skips nor repeats a row."""
        version, fold = before if before is not None else (None, None)
        query, args = scoped(
            f"SELECT {_COLUMNS} FROM snapshotter.snapshots WHERE fund_id = $1 "
            "AND ($2::bigint IS NULL OR (version, fold_version) < ($2::bigint, $3::integer)) "
            "AND {tenant} ORDER BY version DESC, fold_version DESC LIMIT $4",
            fund_id,
            version,
            fold,
            limit,
        )
        rows = await self._pool.fetch(query, *args)
        return [_snapshot(row) for row in rows]
