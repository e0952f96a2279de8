"""Storage modes: native day partitions (creation, late creation, retention, reads across
partitions), TimescaleDB when available, and no duplicate versions under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import grpc
import pytest
from eventstore.adapters.partitions import (
    NATIVE,
    drop_partitions_before,
    ensure_partitions,
    maintain,
    partition_name,
)
from eventstore.bootstrap import EventStore
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from helpers import append, collect, event, insert_raw_event, new_stream, reason_of

# Day partitions exist only in native mode; a Timescale hypertable has chunks instead.
SKIP_ON_TIMESCALE = "native partitions only: this database keeps events in a Timescale hypertable"


def today() -> date:
    return datetime.now(UTC).date()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


async def partitions(store: EventStore) -> set[str]:
    rows = await store.pool.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'eventstore.events'::regclass"
    )
    return {r["relname"] for r in rows}


async def partition_of(store: EventStore, stream_id: str, version: int) -> list[str]:
    rows = await store.pool.fetch(
        "SELECT tableoid::regclass::text AS part FROM eventstore.events "
        "WHERE stream_id = $1 AND version = $2",
        stream_id,
        version,
    )
    return [r["part"] for r in rows]


async def versions(stub: Any, stream_id: str, **fields: Any) -> list[int]:
    call = stub.ReadStream(pb.ReadStreamRequest(stream_id=stream_id, **fields))
    return [e.version for e in await collect(call)]


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


# -- pitfall 8: no duplicate version without a unique index -------------------------------


async def test_no_duplicate_versions_under_concurrency(
    store: EventStore, store_factory: Callable[..., Any]
) -> None:
    # Two replicas on one database: their group-commit transactions really run
    # concurrently, so only the stream-head row can keep versions unique.
    replica = await store_factory(relay_enabled=False)
    s = new_stream()
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{store.server.port}") as one,
        grpc.aio.insecure_channel(f"127.0.0.1:{replica.server.port}") as two,
    ):
        stubs = [
            eventstore_pb2_grpc.EventStoreServiceStub(one),
            eventstore_pb2_grpc.EventStoreServiceStub(two),
        ]
        await stubs[0].AppendToStream(append(s, event()))
        calls = []
        for i in range(30):
            target = stubs[i % 2]
            calls.append(("any", target.AppendToStream(append(s, event(), event()))))
            calls.append(
                (
                    "exact",
                    stubs[(i + 1) % 2].AppendToStream(
                        append(s, event(), event(), expected_version=1)
                    ),
                )
            )
        outcomes = await asyncio.gather(*(c for _, c in calls), return_exceptions=True)

    ok: list[pb.AppendToStreamResponse] = []
    exact_ok = 0
    for (kind, _), outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, grpc.aio.AioRpcError):
            assert kind == "exact", outcome
            assert outcome.code() == grpc.StatusCode.ABORTED
            assert reason_of(outcome) == "WRONG_EXPECTED_VERSION"
            continue
        assert isinstance(outcome, pb.AppendToStreamResponse), outcome
        ok.append(outcome)
        if kind == "exact":
            exact_ok += 1
            assert (outcome.first_version, outcome.last_version) == (2, 3)
    assert exact_ok <= 1
    assert len(ok) == 30 + exact_ok
    n = 1 + 2 * len(ok)

    duplicates = await store.pool.fetch(
        "SELECT version, count(*) FROM eventstore.events WHERE stream_id = $1 "
        "GROUP BY version HAVING count(*) > 1",
        s,
    )
    assert duplicates == []
    stored = [
        r["version"]
        for r in await store.pool.fetch(
            "SELECT version FROM eventstore.events WHERE stream_id = $1 ORDER BY version", s
        )
    ]
    assert stored == list(range(1, n + 1))
    assert (
        await store.pool.fetchval("SELECT version FROM eventstore.streams WHERE stream_id = $1", s)
        == n
    )
    assert (
        await store.pool.fetchval(
            "SELECT count(*) FROM eventstore.event_ids WHERE stream_id = $1", s
        )
        == n
    )
    # Every successful append got its own, contiguous slice of versions.
    slices = sorted((r.first_version, r.last_version) for r in ok)
    assert [v for first, last in slices for v in range(first, last + 1)] == list(range(2, n + 1))
    positions = [
        r["position"]
        for r in await store.pool.fetch(
            "SELECT position FROM eventstore.events WHERE stream_id = $1 ORDER BY version", s
        )
    ]
    assert positions == sorted(set(positions))


# -- several replicas keep the partitions together ---------------------------------------


async def test_replicas_starting_together(store_factory: Callable[..., Any]) -> None:
    # Two replicas rolled out at once on a database without partitions yet: both
    # run the start-up upkeep at the same moment, and both must come up.
    stores = await asyncio.gather(
        *(store_factory(relay_enabled=False, partition_days_ahead=14) for _ in range(2)),
        return_exceptions=True,
    )
    failures = [s for s in stores if isinstance(s, BaseException)]
    assert failures == [], f"a replica failed to start: {failures!r}"
    started = [s for s in stores if isinstance(s, EventStore)]
    if started[0].mode != NATIVE:
        return
    existing = await partitions(started[0])
    for offset in range(-1, 15):
        assert partition_name(today() + timedelta(days=offset)) in existing, offset


async def test_concurrent_partition_upkeep(store: EventStore) -> None:
    # The periodic upkeep of two replicas can run at the same moment (both start
    # their timers at start-up); creating the same new days must not fail either.
    if store.mode != NATIVE:
        pytest.skip(SKIP_ON_TIMESCALE)
    later = today() + timedelta(days=30)
    results = await asyncio.gather(
        *(
            maintain(
                store.pool,
                mode=NATIVE,
                days_ahead=10,
                retention_days=0,
                chunk_interval_hours=24,
                today=later,
            )
            for _ in range(2)
        ),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    existing = await partitions(store)
    for offset in range(-1, 11):
        assert partition_name(later + timedelta(days=offset)) in existing, offset


async def wait_until_blocked(store: EventStore, *, pid: int = 0, query_like: str = "%") -> int:
    """Waits (polling, bounded) until a backend (this `pid`, or any running a query
    that matches `query_like`) waits for a lock; returns its pid."""
    async with asyncio.timeout(10):
        while True:
            found = await store.pool.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND ($1 = 0 OR pid = $1) AND query LIKE $2 AND pid <> pg_backend_pid() "
                "LIMIT 1",
                pid,
                query_like,
            )
            if found is not None:
                return int(found)
            await asyncio.sleep(0.01)


async def test_late_partition_with_an_append_in_flight(stub: Any, store: EventStore) -> None:
    # Today's partition is missing (say, the upkeep failed), so appends land in the
    # default partition. While one such append is still in flight, the upkeep
    # creates today's partition: the creation must succeed and move the event, or
    # under steady traffic it would fail at every attempt.
    if store.mode != NATIVE:
        pytest.skip(SKIP_ON_TIMESCALE)
    day = today()
    name = partition_name(day)
    assert await store.pool.fetchval(f"SELECT count(*) FROM eventstore.{name}") == 0
    await store.pool.execute(f"DROP TABLE eventstore.{name}")

    s, user, kind = new_stream(), f"user-{uuid.uuid4()}", f"T_{uuid.uuid4().hex[:12]}"
    await store.pool.execute(
        "INSERT INTO eventstore.daily_counts (day, user_id, event_type, count) "
        "VALUES ($1, $2, $3, 0)",
        day,
        user,
        kind,
    )
    pending: list[asyncio.Future[Any]] = []
    async with store.pool.acquire() as holder, store.pool.acquire() as upkeep:
        # Hold the append after its events are written, before it commits, by
        # locking the rollup row it is about to bump.
        hold = holder.transaction()
        await hold.start()
        held = True
        try:
            await holder.execute(
                "SELECT 1 FROM eventstore.daily_counts WHERE user_id = $1 FOR UPDATE", user
            )
            appending = asyncio.ensure_future(
                stub.AppendToStream(append(s, event(kind, user_id=user)))
            )
            pending.append(appending)
            await wait_until_blocked(store, query_like="%daily_counts%")
            in_default = await upkeep.fetchval(
                "SELECT count(*) FROM eventstore.events_default WHERE stream_id = $1", s
            )
            assert in_default == 0  # not committed yet, so not visible
            creating = asyncio.ensure_future(ensure_partitions(upkeep, day, day))
            pending.append(creating)
            await wait_until_blocked(store, pid=upkeep.get_server_pid())
            await hold.rollback()
            held = False
            response = await appending
            [created] = await asyncio.gather(creating, return_exceptions=True)
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if held:
                await hold.rollback()
    assert created == 1, created
    assert response.first_version == 1
    assert await partition_of(store, s, 1) == [f"eventstore.{name}"]
    assert await versions(stub, s) == [1]
