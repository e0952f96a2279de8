"""Measures migration 0009 (hash chain) and its back-fill on a large log while appends flow.

    .venv/bin/python -m tests.bench.migration_chain EVENTS

A private PostgreSQL (FUNDLEDGER_PG_BIN_DIR picks the installation, hence the storage mode) is
migrated to 0008 and loaded with EVENTS seeded events (50 per stream) over the past year by the
bench's loader; then, with one-event appends to new streams flowing back to back through
commit_group on their own connection, each step runs and is timed: 0009 (the columns and the
new commit_group body), the back-fill (adapters/chain_backfill.py, one full walk), and a
verification of the log's first VERIFY_SAMPLE events (service_layer/verify.py, as VerifyLog
runs it). Printed: each
step's time and rate, and the appends' latency during it against a quiet baseline. Not part of
`make bench`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from eventstore.adapters.chain_backfill import backfill
from eventstore.adapters.chain_reader import ChainReader
from eventstore.adapters.partitions import NATIVE, detect_mode, maintain
from eventstore.adapters.reader import Reader
from eventstore.bootstrap import MIGRATIONS
from eventstore.service_layer.verify import verify_log
from fundledger_devstack.ports import free_port
from fundledger_devstack.postgres import PostgresServer
from fundledger_platform.migrations import load_migrations, migrate_up

from tests.bench.loader import load
from tests.bench.migration_effective import summary

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


class Appends:
    def __init__(self, dsn: str, rollup: bool) -> None:
        self._dsn, self._rollup = dsn, rollup
        self._step = "quiet"
        self.latencies: dict[str, list[float]] = {}
        self._stop = False

    def step(self, name: str) -> None:
        self._step = name

    async def run(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            while not self._stop:
                started = time.perf_counter()
                await conn.fetch(APPEND, f"fund-{uuid.uuid4()}", self._rollup)
                self.latencies.setdefault(self._step, []).append(time.perf_counter() - started)
        finally:
            await conn.close()

    def stop(self) -> None:
        self._stop = True


async def measure(dsn: str, events: int) -> None:
    conn = await asyncpg.connect(dsn)
    mode = await detect_mode(conn)
    migrations = load_migrations(MIGRATIONS, variant=mode)
    await migrate_up(conn, "eventstore", [m for m in migrations if m.version <= 8])
    await conn.close()
    now = datetime.now(UTC)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await maintain(pool, mode=mode, days_ahead=2, retention_days=0, chunk_interval_hours=24)
    streams = max(1, events // 50)
    started = time.monotonic()
    await load(
        dsn,
        tag=f"c{uuid.uuid4().hex[:6]}",
        streams=streams,
        per_stream=50,
        start=now - timedelta(days=366),
        end=now - timedelta(days=1),
        connections=2,
        log=print,
    )
    print(f"mode {mode}: loaded {streams * 50:,} events in {time.monotonic() - started:.0f} s")
    appends = Appends(dsn, rollup=mode == NATIVE)
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
    async for progress in verify_log(ChainReader(pool, Reader(pool)), ""):
        checked = progress.events_checked
        assert not progress.breaks, progress.breaks
        if checked >= VERIFY_SAMPLE:
            break  # a sample: the rate is per stream read, the same all along
    steps.append(("verify log", time.monotonic() - t, checked))
    appends.step("after")
    await asyncio.sleep(5)
    appends.stop()
    await task
    pending = await pool.fetchval(
        "SELECT count(*) FROM eventstore.streams WHERE chain_version IS DISTINCT FROM version"
    )
    await pool.close()
    print(f"\nmode {mode}, {streams * 50:,} events; streams left unchained: {pending}")
    print(f"  {'quiet (before)':<16} {'':>26}  {summary(appends.latencies.get('quiet', []))}")
    for name, seconds, count in steps:
        rate = f"{count / seconds:>9,.0f} ev/s" if count else ""
        print(
            f"  {name:<16} {seconds:8.2f} s {rate:>16}  {summary(appends.latencies.get(name, []))}"
        )
    print(f"  {'after':<16} {'':>26}  {summary(appends.latencies.get('after', []))}")


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory(prefix="es-chain-") as tmp:
        server = PostgresServer(Path(tmp) / "data", free_port())
        server.start()
        try:
            dsn = server.create_database("migration")
            asyncio.run(measure(dsn, events))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
