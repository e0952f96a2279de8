"""Measures migration 0007 (effective_at) on a large log while appends flow.

    .venv/bin/python -m tests.bench.migration_effective EVENTS

A private PostgreSQL (FUNDLEDGER_PG_BIN_DIR picks the installation, hence the storage mode) is
migrated to 0006 and loaded with EVENTS seeded events over the past year by the bench's loader
(as `make bench` builds its large table); then, with one-event appends flowing back to back
(the 0006 commit_group, as a replica not yet upgraded calls it), each step runs and is timed:
0007 (the column, and in native mode the parent index ON ONLY), 0008 (the group-commit
overload), the upkeep's index build. Printed: each step's time, and the appends' latency
during it (count, p50, p99, max) against a quiet baseline. Not part of `make bench`.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
from eventstore.adapters.effective_index import ensure_effective_index
from eventstore.adapters.partitions import NATIVE
from fundledger_platform.migrations import migrate_up

from tests.bench.online_migration import Appends, run_on_private_postgres, seeded_log, summary

# 0006's commit_group, one append of one event to its own stream (what an old replica sends).
APPEND_0006 = """
SELECT r_outcome FROM eventstore.commit_group(
    ARRAY[$1]::text[], ARRAY['fund']::text[], ARRAY['any']::text[], ARRAY[0]::bigint[],
    ARRAY[1]::int[], ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY['\\x00'::bytea],
    ARRAY[false], ARRAY[1]::int[], ARRAY[gen_random_uuid()], ARRAY['NOTE_ADDED']::text[],
    ARRAY[1]::int[], ARRAY['{"n":1}']::text[], ARRAY['{}']::text[], ARRAY['\\x00'::bytea],
    ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY[NULL]::text[],
    ARRAY[NULL]::text[], $2::boolean, 'eventstore_appended')
"""


async def measure(dsn: str, events: int) -> None:
    log = await seeded_log(dsn, events, 6, "m")
    mode, migrations, pool = log.mode, log.migrations, log.pool
    appends = Appends(dsn, mode == NATIVE, APPEND_0006)
    task = asyncio.create_task(appends.run())
    await asyncio.sleep(5)
    conn = await asyncpg.connect(dsn)
    steps: list[tuple[str, float]] = []
    for name, version in (("0007 migration", 7), ("0008 migration", 8)):
        appends.step(name)
        t = time.monotonic()
        await migrate_up(conn, "eventstore", [m for m in migrations if m.version <= version])
        steps.append((name, time.monotonic() - t))
    await conn.close()
    appends.step("index build (upkeep)")
    t = time.monotonic()
    assert await ensure_effective_index(dsn, mode)
    steps.append(("index build (upkeep)", time.monotonic() - t))
    appends.step("after")
    await asyncio.sleep(5)
    appends.stop()
    await task
    await pool.close()
    print(f"\nmode {mode}, {log.events:,} events")
    print(f"  {'quiet (before)':<24} {'':>9}  {summary(appends.latencies.get('quiet', []))}")
    for name, seconds in steps:
        print(f"  {name:<24} {seconds:8.2f} s  {summary(appends.latencies.get(name, []))}")
    print(f"  {'after':<24} {'':>9}  {summary(appends.latencies.get('after', []))}")


def main() -> None:
    run_on_private_postgres(measure, "es-mig-")


if __name__ == "__main__":
    main()
