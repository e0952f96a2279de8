"""Storage-mode detection and time-partition upkeep.

Native mode: one partition a day, created ahead by the service. Creating a
partition moves any rows the default partition already holds for that day into
it, in the same transaction, so a late-created day never fails the ATTACH (the
default partition exists so that an append never fails for want of a partition).
Retention drops whole day partitions, which is cheap and leaves no bloat.

TimescaleDB mode: chunks are the extension's business; the service only sets
the chunk interval and the retention policy from its settings.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import asyncpg

from eventstore.adapters.conn import Conn

log = logging.getLogger(__name__)

NATIVE = "native"
PARTITION_LOCK_KEY = 0x4556504152  # "EVPAR": one partition creator / upkeep at a time
TIMESCALE = "timescale"


async def detect_mode(conn: Conn) -> str:
    """The mode a fresh database gets: timescale only when the extension is both
    installed and preloaded (it cannot work otherwise)."""
    existing = await conn.fetchval(
        "SELECT mode FROM eventstore.storage_mode"
        if await conn.fetchval("SELECT to_regclass('eventstore.storage_mode') IS NOT NULL")
        else "SELECT NULL::text"
    )
    if existing:
        return str(existing)
    available = await conn.fetchval(
        "SELECT count(*) > 0 FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    preload = await conn.fetchval("SELECT current_setting('shared_preload_libraries', true)")
    return TIMESCALE if available and "timescaledb" in (preload or "") else NATIVE


async def current_mode(conn: Conn | asyncpg.Pool) -> str:
    return str(await conn.fetchval("SELECT mode FROM eventstore.storage_mode"))


def partition_name(day: date) -> str:
    return f"events_p{day:%Y%m%d}"


async def ensure_partitions(conn: Conn, first: date, last: date) -> int:
    """Creates the day partitions from `first` to `last` inclusive; returns how many."""
    existing = {
        r["relname"]
        for r in await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'eventstore.events'::regclass"
        )
    }
    created = 0
    day = first
    while day <= last:
        name = partition_name(day)
        if name not in existing and await _create_partition(conn, day, name):
            created += 1
        day += timedelta(days=1)
    return created


async def _create_partition(conn: Conn, day: date, name: str) -> bool:
    """Creates one day partition; False when another replica got there first.

    Replicas starting together race here, so creation is serialised by an
    advisory lock and re-checked under it. The default partition is locked
    before rows are moved out of it: an append that already wrote a row for
    this day into the default partition commits first (we wait for it) and its
    row is moved; appends arriving meanwhile wait and then land in the new
    partition. Without the lock such a row would make the ATTACH fail.
    """
    lower = datetime(day.year, day.month, day.day, tzinfo=UTC)
    upper = lower + timedelta(days=1)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK_KEY)
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"eventstore.{name}"):
            return False
        await conn.execute("LOCK TABLE eventstore.events_default IN ACCESS EXCLUSIVE MODE")
        await conn.execute(
            f"CREATE TABLE eventstore.{name} (LIKE eventstore.events INCLUDING DEFAULTS)"
        )
        moved = await conn.execute(
            f"WITH moved AS (DELETE FROM eventstore.events_default "
            f"WHERE recorded_at >= $1 AND recorded_at < $2 RETURNING *) "
            f"INSERT INTO eventstore.{name} SELECT * FROM moved",
            lower,
            upper,
        )
        await conn.execute(
            f"ALTER TABLE eventstore.events ATTACH PARTITION eventstore.{name} "
            f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
        )
    if moved and not moved.endswith(" 0"):
        log.warning("partition %s created late; moved rows from the default: %s", name, moved)
    return True


async def drop_partitions_before(conn: Conn, cutoff: date) -> list[str]:
    """Retention: drops day partitions that end on or before `cutoff`."""
    dropped = []
    for row in await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'eventstore.events'::regclass AND c.relname LIKE 'events_p%'"
    ):
        name = row["relname"]
        day = datetime.strptime(name.removeprefix("events_p"), "%Y%m%d").date()
        if day + timedelta(days=1) <= cutoff:
            await conn.execute(f"DROP TABLE eventstore.{name}")
            dropped.append(name)
    return dropped


async def maintain(
    pool: asyncpg.Pool,
    *,
    mode: str,
    days_ahead: int,
    retention_days: int,
    chunk_interval_hours: int,
    today: date | None = None,
) -> None:
    """One round of upkeep; called at start-up and then periodically."""
    today = today or datetime.now(UTC).date()
    async with pool.acquire() as conn:
        if mode == NATIVE:
            created = await ensure_partitions(
                conn, today - timedelta(days=1), today + timedelta(days=days_ahead)
            )
            if created:
                log.info("created %d day partitions", created)
            if retention_days > 0:
                dropped = await drop_partitions_before(conn, today - timedelta(days=retention_days))
                if dropped:
                    log.info("retention dropped partitions %s", dropped)
        else:
            # Replicas run this at the same moment (all start together); the calls
            # update TimescaleDB's catalog rows in place, and two concurrent updates
            # of one row fail with "tuple concurrently updated". Same lock as the
            # native partition creator: one upkeep at a time.
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK_KEY)
                await conn.execute(
                    "SELECT set_chunk_time_interval('eventstore.events', $1::interval)",
                    timedelta(hours=chunk_interval_hours),
                )
                if retention_days > 0:
                    await conn.execute(
                        "SELECT add_retention_policy('eventstore.events', $1::interval, "
                        "if_not_exists => true)",
                        timedelta(days=retention_days),
                    )
