"""Storage modes: detection, TimescaleDB, and native day partitions (creation, retention, reads)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from eventstore.adapters.partitions import (
    NATIVE,
    drop_partitions_before,
    ensure_partitions,
    maintain,
    partition_name,
)
from eventstore.bootstrap import EventStore
from eventstore_storage_support import SKIP_ON_TIMESCALE, partition_of, partitions, today, versions
from eventstore_support import append, collect, event, insert_raw_event, new_stream
from fundledger.eventstore.v1 import eventstore_pb2 as pb


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


async def timescale_available(store: EventStore) -> bool:
    return bool(
        await store.pool.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
        )
    )


# -- mode detection ----------------------------------------------------------------------


async def test_storage_mode_is_recorded(store: EventStore) -> None:
    mode = await store.pool.fetchval("SELECT mode FROM eventstore.storage_mode")
    assert store.mode == mode
    if await timescale_available(store):
        return  # which mode depends on shared_preload_libraries; see the timescale test
    assert mode == NATIVE
    strategy = await store.pool.fetchval(
        "SELECT partstrat::text FROM pg_partitioned_table "
        "WHERE partrelid = 'eventstore.events'::regclass"
    )
    assert strategy == "r"  # range-partitioned (on recorded_at)
    key = await store.pool.fetchval("SELECT pg_get_partkeydef('eventstore.events'::regclass)")
    assert key == "RANGE (recorded_at)"


async def test_timescale_events_table_is_a_hypertable(store: EventStore) -> None:
    if not await timescale_available(store):
        pytest.skip("timescaledb extension not installed in this PostgreSQL")
    if store.mode != "timescale":
        pytest.skip("timescaledb is installed but not in shared_preload_libraries")
    row = await store.pool.fetchrow(
        "SELECT hypertable_schema, hypertable_name FROM timescaledb_information.hypertables "
        "WHERE hypertable_schema = 'eventstore' AND hypertable_name = 'events'"
    )
    assert row is not None
    dimension = await store.pool.fetchval(
        "SELECT column_name FROM timescaledb_information.dimensions "
        "WHERE hypertable_schema = 'eventstore' AND hypertable_name = 'events'"
    )
    assert dimension == "recorded_at"


# -- native partitions -------------------------------------------------------------------


async def test_day_partitions_exist_after_start_up(
    stub: Any, store: EventStore, store_factory: Callable[..., Any]
) -> None:
    if store.mode != NATIVE:
        pytest.skip(SKIP_ON_TIMESCALE)
    day = today()
    existing = await partitions(store)
    assert "events_default" in existing
    # The fixture's settings ask for 2 days ahead.
    for offset in range(-1, 3):
        assert partition_name(day + timedelta(days=offset)) in existing, offset

    # A replica with a longer horizon adds the missing days at its start-up.
    await store_factory(partition_days_ahead=5, relay_enabled=False)
    existing = await partitions(store)
    for offset in range(-1, 6):
        assert partition_name(day + timedelta(days=offset)) in existing, offset

    # Each partition covers exactly its UTC day.
    async with store.pool.acquire() as conn:
        await conn.execute("SET TIME ZONE 'UTC'")  # bounds print in the session's zone
        bound = await conn.fetchval(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c "
            "WHERE c.relname = $1 AND c.relnamespace = 'eventstore'::regnamespace",
            partition_name(day),
        )
        await conn.execute("RESET TIME ZONE")
    assert bound is not None
    assert f"'{day.isoformat()} 00:00:00+00'" in bound
    assert f"'{(day + timedelta(days=1)).isoformat()} 00:00:00+00'" in bound

    # Today's appends land in today's partition, not in the default one.
    s = new_stream()
    response = await stub.AppendToStream(append(s, event()))
    written = response.recorded_at.ToDatetime(tzinfo=UTC).date()
    assert await partition_of(store, s, 1) == [f"eventstore.{partition_name(written)}"]


async def test_late_partition_takes_rows_from_default(stub: Any, store: EventStore) -> None:
    if store.mode != NATIVE:
        pytest.skip(SKIP_ON_TIMESCALE)
    day = today() - timedelta(days=20)
    s = new_stream()
    async with store.pool.acquire() as conn:
        await insert_raw_event(conn, s, 1, at(day - timedelta(days=1), 23, 59))
        await insert_raw_event(conn, s, 2, at(day, 0, 0))
        await insert_raw_event(conn, s, 3, at(day, 12, 0))
        await insert_raw_event(conn, s, 4, at(day, 23, 59))
    for v in (1, 2, 3, 4):
        assert await partition_of(store, s, v) == ["eventstore.events_default"]

    async with store.pool.acquire() as conn:
        assert await ensure_partitions(conn, day, day) == 1
        assert await ensure_partitions(conn, day, day) == 0  # idempotent

    name = f"eventstore.{partition_name(day)}"
    assert partition_name(day) in await partitions(store)
    assert await partition_of(store, s, 1) == ["eventstore.events_default"]  # another day
    for v in (2, 3, 4):
        assert await partition_of(store, s, v) == [name]
    in_default = await store.pool.fetchval(
        "SELECT count(*) FROM eventstore.events_default WHERE stream_id = $1", s
    )
    assert in_default == 1
    total = await store.pool.fetchval(
        "SELECT count(*) FROM eventstore.events WHERE stream_id = $1", s
    )
    assert total == 4

    assert await versions(stub, s) == [1, 2, 3, 4]
    info = await stub.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=s))
    assert (info.version, info.event_count) == (4, 4)

    # A range of several days, each with rows waiting in the default partition.
    async with store.pool.acquire() as conn:
        assert await ensure_partitions(conn, day - timedelta(days=3), day) == 3
    assert await partition_of(store, s, 1) == [
        f"eventstore.{partition_name(day - timedelta(days=1))}"
    ]
    assert (
        await store.pool.fetchval(
            "SELECT count(*) FROM eventstore.events_default WHERE stream_id = $1", s
        )
        == 0
    )
    assert await versions(stub, s) == [1, 2, 3, 4]


async def test_retention_drops_old_partitions_only(stub: Any, store: EventStore) -> None:
    if store.mode != NATIVE:
        pytest.skip(SKIP_ON_TIMESCALE)
    now = today()
    days = [now - timedelta(days=n) for n in (12, 11, 10, 9)]
    s = new_stream()
    async with store.pool.acquire() as conn:
        await ensure_partitions(conn, days[0], days[-1])
        for version, day in enumerate(days, start=1):
            await insert_raw_event(conn, s, version, at(day, 8))
    await stub.AppendToStream(append(s, event(), expected_version=4))
    before = await partitions(store)

    async with store.pool.acquire() as conn:
        dropped = await drop_partitions_before(conn, days[2])
    assert set(dropped) == {partition_name(days[0]), partition_name(days[1])}
    assert await partitions(store) == before - set(dropped)
    assert "events_default" in await partitions(store)

    assert await versions(stub, s) == [3, 4, 5]
    info = await stub.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=s))
    assert info.version == 5
    assert info.event_count == 3  # lower than version once retention dropped events

    # Nothing else is old enough: a second run drops nothing.
    async with store.pool.acquire() as conn:
        assert await drop_partitions_before(conn, days[2]) == []

    # The periodic upkeep applies retention_days the same way.
    await maintain(store.pool, mode=NATIVE, days_ahead=2, retention_days=9, chunk_interval_hours=24)
    remaining = await partitions(store)
    assert partition_name(days[2]) not in remaining  # ends on the cutoff day (today - 9)
    assert partition_name(days[3]) in remaining  # ends after it
    for offset in range(-1, 3):
        assert partition_name(now + timedelta(days=offset)) in remaining
    assert await versions(stub, s) == [4, 5]


async def test_stream_reads_across_partitions(stub: Any, store: EventStore) -> None:
    if store.mode != NATIVE:
        pytest.skip(SKIP_ON_TIMESCALE)
    now = today()
    days = [now - timedelta(days=n) for n in (5, 4, 3, 2)]
    s = new_stream()
    other = new_stream()
    async with store.pool.acquire() as conn:
        await ensure_partitions(conn, days[0], days[-1])
        version = 0
        for day in days:
            for hour in (9, 17):
                version += 1
                await insert_raw_event(conn, s, version, at(day, hour), data={"v": version})
                # Interleaved events of another stream in the same partitions.
                await insert_raw_event(conn, other, version, at(day, hour, 30))
    last = await stub.AppendToStream(append(s, event(), event(), expected_version=8))
    assert (last.first_version, last.last_version) == (9, 10)

    spread = await store.pool.fetchval(
        "SELECT count(DISTINCT tableoid) FROM eventstore.events WHERE stream_id = $1", s
    )
    assert spread == 5

    every = list(range(1, 11))
    assert await versions(stub, s) == every
    assert await versions(stub, s, direction=pb.READ_DIRECTION_BACKWARDS) == every[::-1]
    assert await versions(stub, s, from_version=3, max_count=4) == [3, 4, 5, 6]
    assert await versions(
        stub, s, from_version=7, direction=pb.READ_DIRECTION_BACKWARDS, max_count=4
    ) == [7, 6, 5, 4]
    bound = pb.ReadStreamRequest(stream_id=s)
    bound.max_recorded_at.FromDatetime(at(days[2], 23, 59))
    assert [e.version for e in await collect(stub.ReadStream(bound))] == [1, 2, 3, 4, 5, 6]

    info = await stub.GetStreamInfo(pb.GetStreamInfoRequest(stream_id=s))
    assert (info.version, info.event_count) == (10, 10)
    assert info.first_recorded_at.ToDatetime(tzinfo=UTC) == at(days[0], 9)
    assert info.last_recorded_at == last.recorded_at

    via_all = await collect(stub.ReadAll(pb.ReadAllRequest()))
    assert [e.version for e in via_all if e.stream_id == s] == every
