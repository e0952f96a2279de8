"""Phase peer (issue 11): the `eventsourcing` library, in this process, on the run's PostgreSQL.

The in-process Python peer FundLedger is measured against: no network between the caller and
the library, the same database server as the run's event store (a database of its own, so the
event store's statistics stay apart; a schema of its own where the run's role may not create
databases). Measured like every figure (warm-up, then the window): saving one event to an
aggregate of the thread's own on 1 and on 8 threads, and getting (reconstructing) an aggregate
of 50 and of 1,000 events on one thread. The issue-11 targets (targets.py) compare FundLedger's
append c8 and ReadStream 50 c1 (in pages, as every client now reads: read50b.c1) of the same
run with them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from importlib.metadata import version
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
import psycopg

from tests.bench.peer_app import PeerLedger, Valuations, peer_env
from tests.bench.peer_figures import GET_EVENTS, LIBRARY, SAVE_THREADS, get_key, save_key
from tests.bench.peer_threads import measure_threads

if TYPE_CHECKING:
    from tests.bench.phases import Phases

DATABASE = "bench_peer"
# Aggregates of each size the gets go round (as the stream reads go round seeded streams).
READ_AGGREGATES = 8


async def eventsourcing_peer(p: Phases) -> None:
    library = f"{LIBRARY} {version(LIBRARY)}"
    p.log(f"the {library} library in this process (psycopg {psycopg.pq.__impl__}), same PostgreSQL")
    database, schema = await _own_place(p.stack.database_url)
    env = peer_env(p.stack.database_url, database, schema)
    app = await asyncio.to_thread(PeerLedger, env)
    try:
        for threads in SAVE_THREADS:
            label = f"{library}: save 1 event, own aggregate, c{threads} threads"
            await _measure(p, save_key(threads), label, _saves(app, f"{p.tag}c{threads}"), threads)
        for events in GET_EVENTS:
            ids = await asyncio.to_thread(_seed, app, f"{p.tag}g{events}", events)
            label = f"{library}: get an aggregate of {events:,} events, c1"
            await _measure(p, get_key(events), label, _gets(app, ids), 1)
    finally:
        await asyncio.to_thread(app.close)
    p.notes["peer"] = {
        "library": library,
        "psycopg": psycopg.pq.__impl__,
        "database": database,
        "schema": schema,
    }


async def _measure(
    p: Phases, key: str, label: str, make_call: Callable[[int], Callable[[], object]], threads: int
) -> None:
    figure = await measure_threads(
        key,
        label,
        make_call,
        threads,
        postmaster=p.stack.postmaster,
        warmup=p.settings.warmup_seconds,
        seconds=p.settings.seconds,
    )
    r = figure.result
    p.meter.figures.append(figure)
    p.log(
        f"  {key:<22} {figure.value:>10,.0f} calls/s  p50 {r.p50_ms:6.2f} ms  "
        f"p99 {r.p99_ms:6.2f} ms  | cpu: "
        + " ".join(f"{name} {pct:.0f}%" for name, pct in figure.cpu.items() if pct >= 1)
        + (f"\n    {r.errors} errors, first: {r.first_error}" if r.errors else "")
    )


def _saves(app: PeerLedger, tag: str) -> Callable[[int], Callable[[], object]]:
    def make(index: int) -> Callable[[], object]:
        aggregate = Valuations(f"{tag}-{index}")
        app.save(aggregate)
        counter = itertools.count()

        def save() -> None:
            nonlocal aggregate
            n = next(counter)
            aggregate.update(f"company-{n % 997:04d}", 125_000_000 + n)
            try:
                app.save(aggregate)
            except Exception:
                # The aggregate counted an event the database refused: start again from it.
                aggregate = app.valuations(aggregate.id)
                raise

        return save

    return make


def _gets(app: PeerLedger, ids: list[UUID]) -> Callable[[int], Callable[[], object]]:
    def make(index: int) -> Callable[[], object]:
        turn = itertools.cycle(ids[index % len(ids) :] + ids[: index % len(ids)])
        return lambda: app.valuations(next(turn))

    return make


def _seed(app: PeerLedger, tag: str, events: int) -> list[UUID]:
    return [app.open(f"{tag}-{n}", events) for n in range(READ_AGGREGATES)]


async def _own_place(dsn: str) -> tuple[str, str]:
    """(database, schema) for the library's tables: its own database when the run's role may
    create one, else its own schema in the run's database."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            return DATABASE, ""
        try:
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            return DATABASE, ""
        except asyncpg.InsufficientPrivilegeError:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{DATABASE}"')
            return str(await conn.fetchval("SELECT current_database()")), DATABASE
    finally:
        await conn.close()
