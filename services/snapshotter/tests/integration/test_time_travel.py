"""GetFundStateAt: the nearest valid snapshot at or before the target plus the later events."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger_kernel.fund import FOLD_VERSION
from snapshotter_stack import Stack
from snapshotter_support import (
    Appended,
    append_spaced,
    at_time,
    at_version,
    capital_called,
    company_added,
    fund_created,
    investment,
    later,
    metadata_of,
    midway,
    new_fund,
    reason_of,
)


async def five_investments(stack: Stack) -> tuple[str, list[Appended]]:
    """v1 FUND_CREATED, v2 COMPANY_ADDED, v3..v5 investments of 100, 200, 300."""
    fund_id = new_fund()
    appended = await append_spaced(
        stack.store_stub,
        fund_id,
        [
            fund_created(),
            company_added("c1"),
            investment("c1", 100),
            investment("c1", 200),
            investment("c1", 300),
        ],
    )
    return fund_id, appended


INVESTED_AT = {1: 0, 2: 0, 3: 100, 4: 300, 5: 600}


async def test_time_travel_without_snapshots(stack: Stack) -> None:
    fund_id, t = await five_investments(stack)

    between = await at_time(stack, fund_id, midway(t[2].recorded_at, t[3].recorded_at))
    assert between.version == 3
    assert between.state.invested_cents == 100
    assert between.snapshot_id == ""
    assert between.snapshot_version == 0
    assert between.events_replayed == 3

    exact = await at_time(stack, fund_id, t[3].recorded_at)  # that event is included
    assert exact.version == 4
    assert exact.state.invested_cents == 300
    assert exact.state.last_event_at == (await at_version(stack, fund_id, 4)).state.last_event_at

    future = await at_time(stack, fund_id, later(t[4].recorded_at, 3600))
    assert future.version == 5
    assert future.state.invested_cents == 600

    with pytest.raises(grpc.aio.AioRpcError) as before:
        await at_time(stack, fund_id, later(t[0].recorded_at, -0.001))
    assert before.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(before.value) == "FUND_NOT_FOUND_AT_TIME"


async def test_time_travel_with_snapshots_names_the_snapshot_used(stack: Stack) -> None:
    fund_id, t = await five_investments(stack)
    snap2 = await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=2))
    snap4 = await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=4))

    for version, moment in enumerate((e.recorded_at for e in t), start=1):
        by_time = await at_time(stack, fund_id, moment)
        by_version = await at_version(stack, fund_id, version)
        for response in (by_time, by_version):
            assert response.version == version
            assert response.state.invested_cents == INVESTED_AT[version]
        assert by_time.state == by_version.state

    between = await at_time(stack, fund_id, midway(t[2].recorded_at, t[3].recorded_at))
    assert (between.snapshot_id, between.snapshot_version) == (snap2.snapshot.snapshot_id, 2)
    assert between.events_replayed == 1

    exact = await at_time(stack, fund_id, t[3].recorded_at)
    assert (exact.snapshot_id, exact.snapshot_version, exact.events_replayed) == (
        snap4.snapshot.snapshot_id,
        4,
        0,
    )

    v5 = await at_version(stack, fund_id, 5)
    assert (v5.snapshot_id, v5.snapshot_version, v5.events_replayed) == (
        snap4.snapshot.snapshot_id,
        4,
        1,
    )
    v1 = await at_version(stack, fund_id, 1)
    assert (v1.snapshot_id, v1.events_replayed) == ("", 1)


async def test_snapshot_of_an_older_fold_version_is_ignored(stack: Stack) -> None:
    """FM-11: a snapshot written by another fold is never read as this fold's."""
    fund_id, t = await five_investments(stack)
    old_id = uuid.uuid4()
    wrong_state = {"fold_version": FOLD_VERSION - 1, "invested_cents": 999_999, "version": 4}
    async with stack.snapshotter.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO snapshotter.snapshots (snapshot_id, fund_id, version, position, "
            "event_time, fold_version, trigger, events_since_previous, state, tenant) "
            "VALUES ($1, $2, 4, 1, $3, $4, 'MANUAL', 4, $5::jsonb, 'dev')",
            old_id,
            fund_id,
            t[3].recorded_at,
            FOLD_VERSION - 1,
            json.dumps(wrong_state),
        )

    for response in (
        await at_time(stack, fund_id, t[4].recorded_at),
        await at_version(stack, fund_id, 5),
    ):
        assert response.snapshot_id == ""
        assert response.events_replayed == 5
        assert response.state.invested_cents == 600
        assert response.state.fold_version == FOLD_VERSION
    exact = await at_time(stack, fund_id, t[3].recorded_at)
    assert exact.snapshot_id == ""
    assert exact.state.invested_cents == 300

    # A current-fold snapshot at the same version is written beside it, and used.
    made = await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=4))
    assert made.snapshot.snapshot_id != str(old_id)
    assert made.snapshot.fold_version == FOLD_VERSION
    used = await at_version(stack, fund_id, 5)
    assert used.snapshot_id == made.snapshot.snapshot_id
    assert used.state.invested_cents == 600


async def test_snapshot_chosen_by_its_event_time_not_when_it_was_written(stack: Stack) -> None:
    """FM-10: events at t1, t2, t3; a snapshot covering t3 written later (at t5)."""
    fund_id = new_fund()
    t = await append_spaced(
        stack.store_stub, fund_id, [fund_created(), capital_called(10), capital_called(20)]
    )
    snapshot = (await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id))).snapshot
    assert snapshot.version == 3
    assert snapshot.create_time.ToDatetime() > t[2].recorded_at.replace(tzinfo=None)

    at_t2 = await at_time(stack, fund_id, t[1].recorded_at)
    assert at_t2.version == 2
    assert at_t2.state.called_cents == 10  # t3's call excluded
    assert at_t2.snapshot_id == ""

    # Even if its write time said "before t2" (a skewed writer, a backfill), the
    # snapshot covers t3 and must not answer for t2.
    async with stack.snapshotter.pool.acquire() as conn:
        await conn.execute(
            "UPDATE snapshotter.snapshots SET created_at = $2 WHERE snapshot_id = $1",
            uuid.UUID(snapshot.snapshot_id),
            t[0].recorded_at,
        )
    again = await at_time(stack, fund_id, midway(t[1].recorded_at, t[2].recorded_at))
    assert (again.version, again.state.called_cents, again.snapshot_id) == (2, 10, "")

    at_t3 = await at_time(stack, fund_id, t[2].recorded_at)
    assert (at_t3.version, at_t3.state.called_cents) == (3, 30)
    assert at_t3.snapshot_id == snapshot.snapshot_id


async def test_investment_before_company_added_keeps_the_money(stack: Stack) -> None:
    """FM-17 through time travel, from the log and from a snapshot."""
    fund_id = new_fund()
    t = await append_spaced(
        stack.store_stub,
        fund_id,
        [fund_created(), investment("c9", 500), company_added("c9", "Late Name")],
    )
    v2 = await at_time(stack, fund_id, t[1].recorded_at)
    assert v2.state.invested_cents == 500
    assert [(c.company_id, c.invested_cents, c.name) for c in v2.state.companies] == [
        ("c9", 500, "")
    ]

    await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=2))
    v3 = await at_time(stack, fund_id, t[2].recorded_at)
    assert v3.snapshot_version == 2
    assert v3.state.invested_cents == 500
    assert [(c.company_id, c.invested_cents, c.name) for c in v3.state.companies] == [
        ("c9", 500, "Late Name")
    ]


async def test_time_travel_errors(stack: Stack) -> None:
    fund_id, _ = await five_investments(stack)
    cases = [
        (pb.GetFundStateAtRequest(fund_id=new_fund(), at_version=1), grpc.StatusCode.NOT_FOUND),
        (pb.GetFundStateAtRequest(fund_id=fund_id, at_version=0), grpc.StatusCode.INVALID_ARGUMENT),
        (
            pb.GetFundStateAtRequest(fund_id=fund_id, at_version=-3),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (pb.GetFundStateAtRequest(fund_id=fund_id, at_version=6), grpc.StatusCode.OUT_OF_RANGE),
    ]
    for request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.GetFundStateAt(request)
        assert caught.value.code() == code, request

    # No target: as known now (K = now, E = K), the fund's current state.
    now = await stack.api.GetFundStateAt(pb.GetFundStateAtRequest(fund_id=fund_id))
    assert (now.version, now.state.version) == (5, 5)
    assert now.known_at.ToDatetime() >= now.state.last_event_at.ToDatetime()

    with pytest.raises(grpc.aio.AioRpcError) as beyond:
        await at_version(stack, fund_id, 6)
    assert metadata_of(beyond.value)["current_version"] == "5"

    unknown = pb.GetFundStateAtRequest(fund_id=new_fund())
    unknown.at_time.GetCurrentTime()
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stack.api.GetFundStateAt(unknown)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(missing.value) == "FUND_NOT_FOUND"
