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
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from eventstore.adapters.effective_index import ensure_effective_index
from eventstore.adapters.partitions import NATIVE, detect_mode, maintain
from eventstore.bootstrap import MIGRATIONS
from fundledger_devstack.ports import free_port
from fundledger_devstack.postgres import PostgresServer
from fundledger_platform.migrations import load_migrations, migrate_up

from tests.bench.loader import load

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


class Appends:
    """One-event appends back to back on their own connection; latencies per step."""

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
                await conn.fetch(APPEND_0006, f"fund-{uuid.uuid4()}", self._rollup)
                self.latencies.setdefault(self._step, []).append(time.perf_counter() - started)
        finally:
            await conn.close()

    def stop(self) -> None:
        self._stop = True


def summary(values: list[float]) -> str:
    if not values:
        return "no append completed"
    ms = sorted(v * 1000 for v in values)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"{len(ms):>6} appends  p50 {statistics.median(ms):7.2f} ms  p99 {p99:8.2f} ms  "
        f"max {ms[-1]:8.2f} ms"
    )


async def measure(dsn: str, events: int) -> None:
    conn = await asyncpg.connect(dsn)
    mode = await detect_mode(conn)
    migrations = load_migrations(MIGRATIONS, variant=mode)
    await migrate_up(conn, "eventstore", [m for m in migrations if m.version <= 6])
    await conn.close()
    now = datetime.now(UTC)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await maintain(pool, mode=mode, days_ahead=2, retention_days=0, chunk_interval_hours=24)
    streams = max(1, events // 50)
    started = time.monotonic()
    await load(
        dsn,
        tag=f"m{uuid.uuid4().hex[:6]}",
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
    print(f"\nmode {mode}, {streams * 50:,} events")
    print(f"  {'quiet (before)':<24} {'':>9}  {summary(appends.latencies.get('quiet', []))}")
    for name, seconds in steps:
        print(f"  {name:<24} {seconds:8.2f} s  {summary(appends.latencies.get(name, []))}")
    print(f"  {'after':<24} {'':>9}  {summary(appends.latencies.get('after', []))}")


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory(prefix="es-mig-") as tmp:
        server = PostgresServer(Path(tmp) / "data", free_port())
        server.start()
        try:
            dsn = server.create_database("migration")
            asyncio.run(measure(dsn, events))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
