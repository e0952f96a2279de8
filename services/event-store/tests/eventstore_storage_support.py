"""Storage-mode helpers: partitions for the storage-mode and storage-concurrency tests,
and the mode-aware helpers every test that depends on the storage mode goes through.

The mode (eventstore.storage_mode, `store.mode`) is decided at migration time by what
the test PostgreSQL offers: native day partitions by default, a Timescale hypertable
when it has TimescaleDB (FUNDLEDGER_PG_BIN_DIR, see docs/event-store.md, "Testing
both storage modes"). A test whose setup or expectations differ between the modes says
so by using one of: SKIP_ON_TIMESCALE (native-only behaviour), `rollup_like_service`
or `record_daily_counts` below.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from eventstore.adapters import sql
from eventstore.adapters.partitions import NATIVE
from eventstore.bootstrap import EventStore
from eventstore_support import collect, insert_raw_event, new_stream
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger_devstack.security import DEV_TENANT

# Day partitions exist only in native mode; a Timescale hypertable has chunks instead.
SKIP_ON_TIMESCALE = "native partitions only: this database keeps events in a Timescale hypertable"


def today() -> date:
    return datetime.now(UTC).date()


async def partitions(store: EventStore) -> set[str]:
    rows = await store.pool.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'eventstore.events'::regclass"
    )
    return {r["relname"] for r in rows}


async def partition_of(store: EventStore, stream_id: str, version: int) -> list[str]:
    rows = await store.pool.fetch(
        "SELECT tableoid::regclass::text AS part FROM eventstore.events "
        "WHERE stream_id = $1 AND version = $2",
        stream_id,
        version,
    )
    return [r["part"] for r in rows]


async def versions(stub: Any, stream_id: str, **fields: Any) -> list[int]:
    call = stub.ReadStream(pb.ReadStreamRequest(stream_id=stream_id, **fields))
    return [e.version for e in await collect(call)]


# -- the daily rollup, which each mode keeps its own way ---------------------------------


def rollup_like_service(store: EventStore) -> bool:
    """MODE-DEPENDENT. The `rollup` flag for a direct `write_group` call, as the service
    sets it (bootstrap: `maintain_rollup=mode == NATIVE`). Native mode: the append
    transaction bumps the eventstore.daily_counts table. Timescale mode: daily_counts
    is a read-only view over a continuous aggregate of the events, so the append must
    not write it (it would fail: "cannot insert into column "day" of view")."""
    return store.mode == NATIVE


async def record_daily_counts(
    store: EventStore, rows: Iterable[tuple[date, str, str, int]]
) -> None:
    """MODE-DEPENDENT. Makes GetDailyCounts see these (day, user_id, event_type, count)
    rows, in either mode, through the same machinery as real appends on those days.

    The events themselves go into the log first (`insert_raw_event`: the service stamps
    the current time and cannot append on past days), `count` of them per row, in day
    order so that recorded_at still never decreases with position. Then the rollup is
    brought up to date the way the mode does it: native mode runs the append's own
    rollup statement (sql.BUMP_DAILY_COUNTS) once per day; Timescale mode refreshes the
    continuous aggregate behind the daily_counts view over those days (a refresh, not
    real-time aggregation alone: once the refresh policy has run, rows below its
    watermark are only seen after a refresh).
    """
    by_day: dict[date, list[tuple[str, str, int]]] = defaultdict(list)
    for day, user_id, event_type, count in rows:
        by_day[day].append((user_id, event_type, count))
    if not by_day:
        return
    stream_id = new_stream("dailyfeed")
    version = 0
    async with store.pool.acquire() as conn, conn.transaction():
        for day in sorted(by_day):
            noon = datetime.combine(day, time(12), tzinfo=UTC)
            for user_id, event_type, count in by_day[day]:
                for _ in range(count):
                    version += 1
                    await insert_raw_event(
                        conn, stream_id, version, noon, event_type=event_type, user_id=user_id
                    )
            if store.mode == NATIVE:
                counted = sorted(by_day[day])
                await conn.execute(
                    sql.BUMP_DAILY_COUNTS,
                    noon,
                    [DEV_TENANT for _ in counted],
                    [user_id for user_id, _, _ in counted],
                    [event_type for _, event_type, _ in counted],
                    [count for _, _, count in counted],
                )
    if store.mode != NATIVE:
        # CALL refresh_continuous_aggregate cannot run inside a transaction block.
        first, last = min(by_day), max(by_day)
        await store.pool.execute(
            "CALL refresh_continuous_aggregate('eventstore.daily_counts_cagg', $1::timestamptz, "
            "$2::timestamptz)",
            datetime.combine(first, time(0), tzinfo=UTC),
            datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC),
        )
