"""Builds the effective-time index of migration 0007 online, as an upkeep step.

The index, `events_stream_effective` on (stream_id, coalesce(effective_at, recorded_at)),
serves a stream's events in business-time order. A migration runs inside a transaction, where
PostgreSQL refuses CREATE INDEX CONCURRENTLY and a plain CREATE INDEX would hold off every
append until the whole log is indexed, so the migration only prepares it and this step, run by
the upkeep loop of the leader (bootstrap._upkeep), builds it while appends go on:

- native: 0007 made the index ON ONLY the partitioned parent (invalid until complete; every
  partition created since gets its own on ATTACH). Here each older partition is indexed
  CONCURRENTLY (appends to it go on) and attached; the parent turns valid with the last one. A
  build that failed midway leaves an invalid index on its partition, dropped and built again
  on the next round. A CONCURRENTLY build waits for every transaction older than it, so it
  must hold no lock another transaction may wait for: the ATTACH alone (an instant) takes the
  partition creator's advisory lock, and the default partition, which that creator locks
  ACCESS EXCLUSIVE, is indexed in a short plain transaction instead (_build_default). Retention
  dropping the very partition being built would meet it in a deadlock PostgreSQL breaks by
  failing one of the two, each retried next round (it drops the oldest; the build goes
  newest first);
- timescale: a hypertable refuses CONCURRENTLY, so TimescaleDB's `transaction_per_chunk` builds
  it a chunk per transaction: a chunk being indexed takes no appends meanwhile (in practice the
  newest chunk is small, and the old ones take none), every other one is unblocked. A build that
  failed midway leaves the index invalid (new chunks still get it): dropped and built again.

Once built, each round costs one catalog query.
"""

from __future__ import annotations

import logging
import time

import asyncpg

from eventstore.adapters.partitions import NATIVE, PARTITION_LOCK_KEY

log = logging.getLogger(__name__)

INDEX = "events_stream_effective"
KEY = "(stream_id, (coalesce(effective_at, recorded_at)))"
# One builder at a time across replicas (timescale; native builds take the partition lock).
_BUILD_LOCK_KEY = 0x4556454646  # "EVEFF"

_STATE = """
SELECT i.indisvalid FROM pg_index i
WHERE i.indexrelid = to_regclass('eventstore.events_stream_effective')
"""
# Native: the partitions without an index attached to the parent, with the name and validity of
# a leftover index of ours on them (a build interrupted before its ATTACH).
_MISSING = """
SELECT c.relname AS partition, x.relname AS leftover, xi.indisvalid AS leftover_valid
FROM pg_inherits p
JOIN pg_class c ON c.oid = p.inhrelid
LEFT JOIN pg_class x
  ON x.relname = c.relname || '_stream_effective' AND x.relnamespace = c.relnamespace
LEFT JOIN pg_index xi ON xi.indexrelid = x.oid
WHERE p.inhparent = 'eventstore.events'::regclass
  AND NOT EXISTS (
    SELECT 1 FROM pg_inherits a JOIN pg_index ai ON ai.indexrelid = a.inhrelid
    WHERE a.inhparent = 'eventstore.events_stream_effective'::regclass AND ai.indrelid = c.oid)
ORDER BY c.relname DESC
"""


async def ensure_effective_index(database_url: str, mode: str) -> bool:
    """Builds what is missing of the index; True once it is complete (valid). On a connection
    of its own, outside any transaction (CONCURRENTLY and transaction_per_chunk need that)."""
    conn = await asyncpg.connect(database_url, server_settings={"application_name": "es-upkeep"})
    try:
        valid = await conn.fetchval(_STATE)
        if valid:
            return True
        if mode == NATIVE:
            return await _native(conn)
        return await _timescale(conn, exists=valid is not None)
    except BaseException:
        # Cancelled (a shutdown) or failed mid-build: a graceful close would wait for a build
        # that waits for other transactions to end; dropping the connection aborts it (the
        # invalid index it leaves is dropped and rebuilt next round).
        conn.terminate()
        raise
    finally:
        if not conn.is_closed():
            await conn.close()


async def _native(conn: asyncpg.Connection) -> bool:
    for row in await conn.fetch(_MISSING):
        partition, name = row["partition"], f"{row['partition']}_stream_effective"
        started = time.monotonic()
        try:
            if partition == "events_default":
                await _build_default(conn, name, leftover=row["leftover"] is not None)
            else:
                if row["leftover"] is not None and not row["leftover_valid"]:
                    await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS eventstore.{name}")
                await conn.execute(
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
                    f"ON eventstore.{partition} {KEY}"
                )
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK_KEY)
                    await conn.execute(
                        f"ALTER INDEX eventstore.{INDEX} ATTACH PARTITION eventstore.{name}"
                    )
        except asyncpg.UndefinedTableError:
            continue  # dropped by retention meanwhile
        log.info(
            "effective-time index built on %s in %.1f s", partition, time.monotonic() - started
        )
    return bool(await conn.fetchval(_STATE))


async def _build_default(conn: asyncpg.Connection, name: str, *, leftover: bool) -> None:
    """The default partition holds only the rare rows of a day without its partition yet, and
    the partition creator locks it ACCESS EXCLUSIVE (to move such rows out): a CONCURRENTLY
    build there would wait for the creator's transaction while the creator waits for the build,
    a deadlock. So it is indexed in one short transaction under the creator's own lock."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK_KEY)
        if leftover:
            await conn.execute(f"DROP INDEX IF EXISTS eventstore.{name}")
        await conn.execute(f"CREATE INDEX {name} ON eventstore.events_default {KEY}")
        await conn.execute(f"ALTER INDEX eventstore.{INDEX} ATTACH PARTITION eventstore.{name}")


async def _timescale(conn: asyncpg.Connection, *, exists: bool) -> bool:
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _BUILD_LOCK_KEY):
        return False  # another replica is building it
    try:
        started = time.monotonic()
        if exists:  # invalid: a build interrupted midway
            await conn.execute(f"DROP INDEX IF EXISTS eventstore.{INDEX}")
        await conn.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON eventstore.events {KEY} "
            "WITH (timescaledb.transaction_per_chunk)"
        )
        log.info("effective-time index built in %.1f s", time.monotonic() - started)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _BUILD_LOCK_KEY)
    return bool(await conn.fetchval(_STATE))
