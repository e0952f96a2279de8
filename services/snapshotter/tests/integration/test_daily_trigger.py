"""The daily trigger, driven by an injected clock: changed funds get a snapshot, others don't."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from snapshotter.domain.triggers import next_daily
from snapshotter_stack import Stack, StackFactory, wait_seen
from snapshotter_support import (
    ManualClock,
    append_many,
    append_one,
    append_spaced,
    capital_called,
    fund_created,
    list_all,
    midway,
    new_fund,
)


def versions(snapshots: list[pb.Snapshot]) -> list[tuple[int, int]]:
    return [(s.version, s.trigger) for s in snapshots]


async def test_daily_round_snapshots_only_funds_changed_since_their_last_snapshot(
    stack: Stack,
) -> None:
    changed, unchanged, grown = new_fund(), new_fund(), new_fund()
    await append_many(stack.store_stub, changed, 3)
    await append_many(stack.store_stub, unchanged, 4)
    await append_many(stack.store_stub, grown, 5)
    await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=unchanged))
    await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=grown))
    await append_one(stack.store_stub, grown, capital_called(7))  # v6, after its snapshot
    for fund_id, version in ((changed, 3), (unchanged, 4), (grown, 6)):
        await wait_seen(stack, fund_id, version)

    made = await stack.snapshotter.daily.run_round(datetime.now(UTC) + timedelta(seconds=1))
    assert sorted((s.fund_id, s.version) for s in made) == sorted([(changed, 3), (grown, 6)])

    daily = pb.SNAPSHOT_TRIGGER_DAILY
    manual = pb.SNAPSHOT_TRIGGER_MANUAL
    assert versions(await list_all(stack.api, changed)) == [(3, daily)]
    assert versions(await list_all(stack.api, unchanged)) == [(4, manual)]
    assert versions(await list_all(stack.api, grown)) == [(6, daily), (5, manual)]

    # Nothing changed since: the next round writes nothing.
    assert await stack.snapshotter.daily.run_round(datetime.now(UTC) + timedelta(seconds=1)) == []


async def test_daily_snapshot_stands_at_the_last_event_before_the_scheduled_instant(
    stack: Stack,
) -> None:
    fund_id = new_fund()
    appended = await append_spaced(
        stack.store_stub, fund_id, [fund_created(), capital_called(1), capital_called(2)]
    )
    await wait_seen(stack, fund_id, 3)

    # The round for an instant between v2 and v3 snapshots v2, whenever it runs.
    made = await stack.snapshotter.daily.run_round(
        midway(appended[1].recorded_at, appended[2].recorded_at)
    )
    assert [(s.fund_id, s.version) for s in made] == [(fund_id, 2)]
    assert made[0].event_time == appended[1].recorded_at

    # An instant before the fund's first event: nothing to snapshot.
    early = appended[0].recorded_at - timedelta(seconds=1)
    assert await stack.snapshotter.daily.run_round(early) == []


async def test_daily_loop_sleeps_until_the_configured_utc_time(
    stack_factory: StackFactory,
) -> None:
    start = datetime.now(UTC)
    clock = ManualClock(start)
    stack = await stack_factory(clock=clock, daily_utc_time=time(0, 0))
    fund_id = new_fund()
    await append_many(stack.store_stub, fund_id, 3)
    await wait_seen(stack, fund_id, 3)

    due = next_daily(start, time(0, 0))
    assert due.time() == time(0, 0)
    assert due > start
    assert await clock.next_request() == (due - start).total_seconds()
    clock.release()  # "midnight": the loop runs its round, then sleeps a day
    assert await clock.next_request() == 24 * 3600.0

    assert versions(await list_all(stack.api, fund_id)) == [(3, pb.SNAPSHOT_TRIGGER_DAILY)]
