"""Measures migration 0009 (hash chain) and its back-fill on a large log while appends flow.

    .venv/bin/python -m tests.bench.migration_chain EVENTS

A private PostgreSQL (FUNDLEDGER_PG_BIN_DIR picks the installation, hence the storage mode) is
migrated to 0008 and loaded with EVENTS seeded events (50 per stream) over the past year by the
bench's loader; then, with one-event appends to new streams flowing back to back through
commit_group on their own connection, each step runs and is timed: 0009 (the columns and the
new commit_group body), the back-fill (adapters/chain_backfill.py, one full walk), and a
verification of the log's first VERIFY_SAMPLE events (service_layer/verify.py, as VerifyLog
runs it), and an incremental verification of the streams changed in the last RECENT events
(VerifyLog from_position). FUNDLEDGER_BENCH_COMPRESS=1 (TimescaleDB) first compresses the
chunks older than 7 days, as the compression policy would have. Printed: each
step's time and rate, and the appends' latency during it against a quiet baseline. Not part of
`make bench`.
"""

from __future__ import annotations

import asyncio
import os
import time

import asyncpg
from eventstore.adapters.chain_backfill import backfill
from eventstore.adapters.chain_reader import ChainReader
from eventstore.adapters.partitions import NATIVE
from eventstore.adapters.reader import Reader
from eventstore.service_layer.verify import verify_log
from fundledger_platform.migrations import migrate_up

from tests.bench.online_migration import Appends, run_on_private_postgres, seeded_log, summary

# 0008's commit_group signature (the one the code calls), one event to a new stream.
APPEND = """
SELECT r_outcome FROM eventstore.commit_group(
    ARRAY[$1]::text[], ARRAY['fund']::text[], ARRAY['any']::text[], ARRAY[0]::bigint[],
    ARRAY[1]::int[], ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY['\\x00'::bytea],
    ARRAY[false], ARRAY[NULL]::timestamptz[], ARRAY[1]::int[], ARRAY[gen_random_uuid()],
    ARRAY['NOTE_ADDED']::text[], ARRAY[1]::int[], ARRAY['{"n":1}']::text[],
    ARRAY['{}']::text[], ARRAY['\\x00'::bytea], ARRAY[NULL]::text[], ARRAY[NULL]::text[],
    ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY[NULL]::text[],
    ARRAY[NULL]::timestamptz[], $2::boolean, 'eventstore_appended', interval '0')
"""


# Events the verification step checks at most (it reads stream by stream: its rate does not
# depend on the log's size).
VERIFY_SAMPLE = 200_000
# The incremental verification covers the streams of the log's last RECENT events.
RECENT = 100_000


async def measure(dsn: str, events: int) -> None:
    log = await seeded_log(dsn, events, 8, "c")
    mode, migrations, pool = log.mode, log.migrations, log.pool
    if mode != NATIVE and os.environ.get("FUNDLEDGER_BENCH_COMPRESS") == "1":
        # What the compression policy (older than 7 days) would have done to a log this old:
        # the back-fill then updates compressed chunks.
        t = time.monotonic()
        chunks = await pool.fetchval(
            "SELECT count(compress_chunk(c, if_not_compressed => true)) FROM "
            "show_chunks('eventstore.events', older_than => interval '7 days') c"
        )
        print(f"compressed {chunks} chunks older than 7 days in {time.monotonic() - t:.0f} s")
    appends = Appends(dsn, mode == NATIVE, APPEND)
    task = asyncio.create_task(appends.run())
    await asyncio.sleep(5)
    steps: list[tuple[str, float, int]] = []
    appends.step("0009 migration")
    conn = await asyncpg.connect(dsn)
    t = time.monotonic()
    await migrate_up(conn, "eventstore", migrations)
    steps.append(("0009 migration", time.monotonic() - t, 0))
    await conn.close()
    appends.step("back-fill")
    t = time.monotonic()
    hashed = await backfill(pool)
    steps.append(("back-fill", time.monotonic() - t, hashed))
    appends.step("verify log")
    t = time.monotonic()
    checked = 0
    reader = ChainReader(pool, Reader(pool))
    async for progress in verify_log(reader, ""):
        checked = progress.events_checked
        assert not progress.breaks, progress.breaks
        if checked >= VERIFY_SAMPLE:
            break  # a sample: the rate is per stream read, the same all along
    steps.append(("verify log", time.monotonic() - t, checked))
    # An auditor's incremental run (VerifyLog from_position): the streams changed in the last
    # RECENT events of the log, each verified whole.
    appends.step("verify recent")
    head = await pool.fetchval("SELECT last_position FROM eventstore.log_head")
    t = time.monotonic()
    async for progress in verify_log(reader, "", max(0, head - RECENT)):
        assert not progress.breaks, progress.breaks
        checked = progress.events_checked
    steps.append(("verify recent", time.monotonic() - t, checked))
    appends.step("after")
    await asyncio.sleep(5)
    appends.stop()
    await task
    pending = await pool.fetchval(
        "SELECT count(*) FROM eventstore.streams WHERE chain_version IS DISTINCT FROM version"
    )
    await pool.close()
    print(f"\nmode {mode}, {log.events:,} events; streams left unchained: {pending}")
    print(f"  {'quiet (before)':<16} {'':>26}  {summary(appends.latencies.get('quiet', []))}")
    for name, seconds, count in steps:
        rate = f"{count / seconds:>9,.0f} ev/s" if count else ""
        print(
            f"  {name:<16} {seconds:8.2f} s {rate:>16}  {summary(appends.latencies.get(name, []))}"
        )
    print(f"  {'after':<16} {'':>26}  {summary(appends.latencies.get('after', []))}")


def main() -> None:
    run_on_private_postgres(measure, "es-chain-")


if __name__ == "__main__":
    main()
