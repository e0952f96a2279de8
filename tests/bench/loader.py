"""Bulk-loads seeded events straight into the event store's tables with SQL.

Much faster than appending through the service, and shaped like real history:
see layout.py. The loaded range of positions is reserved on `log_head` first (as
an append would), and the relay's checkpoint is moved past it: loaded history
counts as already published, so the relay does not spend the benchmark
publishing millions of old events to JetStream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from eventstore.adapters.partitions import NATIVE, current_mode, ensure_partitions

from tests.bench.layout import INSERT_EVENTS, INSERT_HEADS, Layout

CHUNK_EVENTS = 100_000
RESERVE_ATTEMPTS = 240  # x 0.5 s: how long to wait for the relay to be idle
RELAY_NAME = "jetstream"


class LoadError(Exception):
    pass


@dataclass(frozen=True)
class LoadReport:
    events: int
    partition_seconds: float
    insert_seconds: float
    vacuum_seconds: float
    partitions_created: int


async def load(
    dsn: str,
    *,
    tag: str,
    streams: int,
    per_stream: int,
    start: datetime,
    end: datetime,
    connections: int,
    log: Callable[[str], None],
    vacuum: bool = True,
) -> tuple[Layout, LoadReport]:
    begun = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        first = await _reserve(conn, streams * per_stream, start, end)
        layout = Layout(tag, first, streams, per_stream, start, end)
        created = 0
        if await current_mode(conn) == NATIVE:
            created = await ensure_partitions(
                conn, start.date() - timedelta(days=1), end.date() + timedelta(days=1)
            )
    finally:
        await conn.close()
    started = time.monotonic()
    await _insert(dsn, layout, connections, log)
    inserted = time.monotonic()
    if vacuum:
        await _vacuum(dsn)
    report = LoadReport(
        events=layout.events,
        partition_seconds=started - begun,
        insert_seconds=inserted - started,
        vacuum_seconds=time.monotonic() - inserted,
        partitions_created=created,
    )
    return layout, report


async def _reserve(conn: asyncpg.Connection, count: int, start: datetime, end: datetime) -> int:
    """Takes `count` positions after the log head; returns the first.

    Only once the relay has published everything (so that it is idle and cannot
    write an older checkpoint over the one set here), with log_head locked so no
    append commits meanwhile.
    """
    for _ in range(RESERVE_ATTEMPTS):
        async with conn.transaction():
            head = await conn.fetchrow(
                "SELECT last_position, last_recorded_at, last_recorded_at > $1 AS too_late "
                "FROM eventstore.log_head FOR UPDATE",
                start,
            )
            assert head is not None
            if head["too_late"]:
                raise LoadError(
                    f"the log already has events at {head['last_recorded_at']}, after the "
                    f"start of the range to load ({start}): positions must grow with time"
                )
            checkpoint = await conn.fetchval(
                "SELECT position FROM eventstore.relay_checkpoints WHERE name = $1", RELAY_NAME
            )
            if checkpoint is None or checkpoint >= head["last_position"]:
                last = int(head["last_position"]) + count
                await conn.execute(
                    "UPDATE eventstore.log_head SET last_position = $1, "
                    "last_recorded_at = greatest(last_recorded_at, $2)",
                    last,
                    end,
                )
                await conn.execute(
                    "INSERT INTO eventstore.relay_checkpoints (name, position) VALUES ($1, $2) "
                    "ON CONFLICT (name) DO UPDATE SET position = greatest("
                    "relay_checkpoints.position, excluded.position)",
                    RELAY_NAME,
                    last,
                )
                return int(head["last_position"]) + 1
        await asyncio.sleep(0.5)
    raise LoadError("the relay did not catch up with the log head; cannot reserve positions")


def _chunks(layout: Layout) -> list[tuple[int, int]]:
    """Ranges of whole blocks (first block, end block), about CHUNK_EVENTS events each."""
    per_chunk = max(1, CHUNK_EVENTS // layout.block_events)
    return [(b, min(b + per_chunk, layout.blocks)) for b in range(0, layout.blocks, per_chunk)]


async def _insert(dsn: str, layout: Layout, connections: int, log: Callable[[str], None]) -> None:
    chunks = _chunks(layout)
    pending = iter(chunks)
    done = 0
    started = time.monotonic()
    last_note = started

    async def worker() -> None:
        nonlocal done, last_note
        conn = await asyncpg.connect(dsn, server_settings={"synchronous_commit": "off"})
        try:
            for first_block, end_block in pending:
                await _insert_blocks(conn, layout, first_block, end_block)
                done += 1
                now = time.monotonic()
                if now - last_note >= 15:
                    last_note = now
                    log(f"  loaded {done}/{len(chunks)} chunks in {now - started:.0f} s")
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(min(connections, len(chunks)))))


async def _insert_blocks(
    conn: asyncpg.Connection, layout: Layout, first_block: int, end_block: int
) -> None:
    first_event = first_block * layout.block_events
    last_event = min(end_block * layout.block_events, layout.events) - 1
    first_stream = first_block * layout.block_streams
    last_stream = min(end_block * layout.block_streams, layout.streams) - 1
    async with conn.transaction():
        await conn.execute(
            INSERT_EVENTS,
            layout.tag,
            layout.first_position,
            layout.events,
            layout.streams,
            layout.block_streams,
            layout.per_stream,
            layout.start,
            layout.span_seconds,
            first_event,
            last_event,
        )
        await conn.execute(
            INSERT_HEADS,
            layout.tag,
            first_stream,
            last_stream,
            layout.block_streams,
            layout.per_stream,
            layout.streams,
            layout.start,
            layout.span_seconds,
            layout.events,
        )


async def _vacuum(dsn: str) -> None:
    """What autovacuum would otherwise do in the middle of a measurement."""
    conn = await asyncpg.connect(dsn)
    try:
        for table in ("eventstore.events", "eventstore.event_ids", "eventstore.streams"):
            await conn.execute(f"VACUUM (ANALYZE) {table}", timeout=3600)
        # Not allowed on a target database we are not superuser of.
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT", timeout=600)
    finally:
        await conn.close()
