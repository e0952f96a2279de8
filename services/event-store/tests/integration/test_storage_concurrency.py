"""Storage under concurrency: unique versions across replicas, racing partition upkeep."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
import pytest
from eventstore.adapters.partitions import NATIVE, ensure_partitions, maintain, partition_name
from eventstore.bootstrap import EventStore
from eventstore_storage_support import SKIP_ON_TIMESCALE, partition_of, partitions, today, versions
from eventstore_support import append, event, new_stream, open_channel, reason_of
from fundledger.eventstore.v1 import eventstore_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2_grpc

# -- FM-8: no duplicate version without a unique index ------------------------------------


async def test_no_duplicate_versions_under_concurrency(
    store: EventStore, store_factory: Callable[..., Any]
) -> None:
    # Two replicas on one database: their group-commit transactions really run
    # concurrently, so only the stream-head row can keep versions unique.
    replica = await store_factory(relay_enabled=False)
    s = new_stream()
    async with (
        open_channel(store) as one,
        open_channel(replica) as two,
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


async def test_late_partition_with_an_append_in_flight(
    stub: Any, as_caller: Any, store: EventStore
) -> None:
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
        "INSERT INTO eventstore.daily_counts (day, tenant, user_id, event_type, count) "
        "VALUES ($1, 'dev', $2, $3, 0)",
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
                as_caller(user).AppendToStream(append(s, event(kind)))
            )
            pending.append(appending)
            # The append's one statement (eventstore.commit_group) waits at its rollup bump.
            await wait_until_blocked(store, query_like="%commit_group%")
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
