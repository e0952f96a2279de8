"""What the online-migration measurements share (migration_effective.py, migration_chain.py):
a private PostgreSQL, a large seeded log migrated up to a version, one-event appends flowing
back to back on their own connection with their latencies per step, and the summary line."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from eventstore.adapters.partitions import detect_mode, maintain
from eventstore.bootstrap import MIGRATIONS
from fundledger_devstack.ports import free_port
from fundledger_devstack.postgres import PostgresServer
from fundledger_platform.migrations import Migration, load_migrations, migrate_up

from tests.bench.loader import load


class Appends:
    """One-event appends (`statement`: $1 the stream id, $2 the rollup flag) back to back on
    their own connection; latencies per step."""

    def __init__(self, dsn: str, rollup: bool, statement: str) -> None:
        self._dsn, self._rollup, self._statement = dsn, rollup, statement
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
                await conn.fetch(self._statement, f"fund-{uuid.uuid4()}", self._rollup)
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


@dataclass
class SeededLog:
    mode: str
    migrations: list[Migration]  # every migration of the mode (the rest are applied later)
    pool: asyncpg.Pool
    events: int


async def seeded_log(dsn: str, events: int, up_to: int, tag: str) -> SeededLog:
    """The event store's schema migrated up to `up_to`, then `events` seeded events (50 per
    stream) over the past year, as `make bench` builds its large table."""
    conn = await asyncpg.connect(dsn)
    mode = await detect_mode(conn)
    migrations = load_migrations(MIGRATIONS, variant=mode)
    await migrate_up(conn, "eventstore", [m for m in migrations if m.version <= up_to])
    await conn.close()
    now = datetime.now(UTC)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await maintain(pool, mode=mode, days_ahead=2, retention_days=0, chunk_interval_hours=24)
    streams = max(1, events // 50)
    started = time.monotonic()
    await load(
        dsn,
        tag=f"{tag}{uuid.uuid4().hex[:6]}",
        streams=streams,
        per_stream=50,
        start=now - timedelta(days=366),
        end=now - timedelta(days=1),
        connections=2,
        log=print,
    )
    print(f"mode {mode}: loaded {streams * 50:,} events in {time.monotonic() - started:.0f} s")
    return SeededLog(mode, migrations, pool, streams * 50)


def run_on_private_postgres(
    measure: Callable[[str, int], Coroutine[Any, Any, None]], prefix: str
) -> None:
    """`measure(dsn, EVENTS)` on a PostgreSQL of its own (FUNDLEDGER_PG_BIN_DIR picks the
    installation, hence the storage mode); EVENTS from the command line, 1,000,000 by default."""
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = PostgresServer(Path(tmp) / "data", free_port())
        server.start()
        try:
            asyncio.run(measure(server.create_database("migration"), events))
        finally:
            server.stop()
