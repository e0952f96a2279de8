"""The count trigger: a snapshot exactly at versions 50, 100, 150 …, never missed, never doubled."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fundledger.eventstore.v1 import eventstore_pb2 as es
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger_kernel.fund import FOLD_VERSION
from snapshotter.domain.model import Progress
from snapshotter_stack import Stack, StackFactory, seen_version, wait_seen
from snapshotter_support import append_many, list_all, new_fund


async def fund_events(stack: Stack, fund_id: str) -> list[Any]:
    """The fund's events, read from the store in pages (its default)."""
    request = es.ReadStreamRequest(stream_id=fund_id)
    return [e async for page in stack.store_stub.ReadStream(request) for e in page.events]


async def test_snapshots_every_50_events_exactly(stack: Stack) -> None:
    fund_id = new_fund()
    await append_many(stack.store_stub, fund_id, 160)
    await wait_seen(stack, fund_id, 160)

    snapshots = await list_all(stack.api, fund_id)
    assert [s.version for s in snapshots] == [150, 100, 50]  # newest first
    assert {s.trigger for s in snapshots} == {pb.SNAPSHOT_TRIGGER_EVENT_COUNT}
    assert {s.fold_version for s in snapshots} == {FOLD_VERSION}
    # Built one on the other: 50 events from nothing, then 50 on each previous one.
    assert [s.events_since_previous for s in snapshots] == [50, 50, 50]

    # Each records its version's event time and position, not the wall clock.
    events = await fund_events(stack, fund_id)
    by_version = {e.version: e for e in events}
    for snapshot in snapshots:
        event = by_version[snapshot.version]
        assert snapshot.position == event.position
        assert snapshot.event_time == event.recorded_at

    # The state stored is exactly the state at that version.
    state = await stack.api.GetFundStateAt(
        pb.GetFundStateAtRequest(fund_id=fund_id, at_version=100)
    )
    assert state.snapshot_version == 100
    assert state.events_replayed == 0
    assert state.state.called_cents == 99  # 99 capital calls of 1 cent after FUND_CREATED


async def test_redelivered_and_gap_skipped_events_neither_double_nor_miss(stack: Stack) -> None:
    """Drives the Tracker directly with the deliveries a bus may produce."""
    fund_id = new_fund()
    await append_many(stack.store_stub, fund_id, 120)
    await wait_seen(stack, fund_id, 120)
    assert [s.version for s in await list_all(stack.api, fund_id)] == [100, 50]

    tracker = stack.snapshotter.tracker
    events = await fund_events(stack, fund_id)
    for event in (events[49], events[99], events[119]):  # redeliveries of old events
        made = await tracker.advance(
            Progress(fund_id, event.version, event.position, event.recorded_at.ToDatetime(UTC))
        )
        assert made == []
    assert [s.version for s in await list_all(stack.api, fund_id)] == [100, 50]


async def test_gap_in_delivery_still_snapshots_the_skipped_multiple(
    stack_factory: StackFactory,
) -> None:
    # A bus that delivers nothing and no periodic catch-up: only our calls move it.
    stack = await stack_factory(bus_subject_prefix="nowhere.events", catchup_seconds=3600)
    fund_id = new_fund()
    await append_many(stack.store_stub, fund_id, 60)
    events = await fund_events(stack, fund_id)
    tracker = stack.snapshotter.tracker

    def at(version: int) -> Progress:
        event = events[version - 1]
        return Progress(fund_id, version, event.position, event.recorded_at.ToDatetime(UTC))

    assert await tracker.advance(at(44)) == []
    # Events 45..55 were lost; 56 arrives: the snapshot at 50 must still be taken.
    made = await tracker.advance(at(56))
    assert [s.version for s in made] == [50]
    assert await tracker.advance(at(50)) == []  # 50 turns up late: nothing doubled
    assert await tracker.advance(at(60)) == []
    assert [s.version for s in await list_all(stack.api, fund_id)] == [50]


async def test_catch_up_from_the_log_when_the_bus_loses_messages(
    stack_factory: StackFactory,
) -> None:
    """FM-13: with nothing arriving on the bus, the catch-up alone takes the snapshots."""
    stack = await stack_factory(bus_subject_prefix="nowhere.events", catchup_seconds=3600)
    fund_id, other = new_fund(), new_fund()
    await append_many(stack.store_stub, fund_id, 110)
    await append_many(stack.store_stub, other, 30)

    await stack.snapshotter.catchup.run_once()
    assert [s.version for s in await list_all(stack.api, fund_id)] == [100, 50]
    assert await list_all(stack.api, other) == []
    assert await seen_version(stack, other) == 30

    # The checkpoint moved: a second round reads nothing and writes nothing.
    assert await stack.snapshotter.catchup.run_once() == 0
    await append_many(stack.store_stub, other, 25, new=False)  # other reaches 55
    assert await stack.snapshotter.catchup.run_once() > 0
    assert [s.version for s in await list_all(stack.api, other)] == [50]


async def test_list_snapshots_pages_newest_first(stack: Stack) -> None:
    fund_id = new_fund()
    await append_many(stack.store_stub, fund_id, 160)
    await wait_seen(stack, fund_id, 160)
    # An older fold's snapshot is listed too (it is a stored snapshot), after v150.
    async with stack.snapshotter.pool.acquire() as conn:
        await insert_old_fold_snapshot(conn, fund_id, 150)

    first = await stack.api.ListSnapshots(pb.ListSnapshotsRequest(fund_id=fund_id, page_size=2))
    assert [(s.version, s.fold_version) for s in first.snapshots] == [
        (150, FOLD_VERSION),
        (150, FOLD_VERSION - 1),
    ]
    assert first.next_page_token
    second = await stack.api.ListSnapshots(
        pb.ListSnapshotsRequest(fund_id=fund_id, page_size=2, page_token=first.next_page_token)
    )
    assert [s.version for s in second.snapshots] == [100, 50]
    assert not second.next_page_token


async def insert_old_fold_snapshot(conn: Any, fund_id: str, version: int) -> None:
    await conn.execute(
        "INSERT INTO snapshotter.snapshots (snapshot_id, fund_id, version, position, event_time, "
        "fold_version, trigger, events_since_previous, state, tenant) "
        "SELECT gen_random_uuid(), fund_id, version, position, event_time, fold_version - 1, "
        "'MANUAL', 0, '{}'::jsonb, tenant FROM snapshotter.snapshots "
        "WHERE fund_id = $1 AND version = $2",
        fund_id,
        version,
    )
