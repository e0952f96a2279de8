"""CreateSnapshot: at the latest version or a given one; idempotent; clear errors."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from snapshotter_stack import Stack
from snapshotter_support import (
    append_spaced,
    capital_called,
    fund_created,
    list_all,
    metadata_of,
    new_fund,
    reason_of,
)


async def test_manual_snapshot_latest_and_at_version_idempotent(stack: Stack) -> None:
    fund_id = new_fund()
    appended = await append_spaced(
        stack.store_stub, fund_id, [fund_created(), capital_called(10), capital_called(20)]
    )

    latest = (await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id))).snapshot
    assert latest.version == 3
    assert latest.trigger == pb.SNAPSHOT_TRIGGER_MANUAL
    assert latest.event_time.ToDatetime() == appended[2].recorded_at.replace(tzinfo=None)
    assert latest.events_since_previous == 3
    assert latest.HasField("create_time")

    at_one = (
        await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=1))
    ).snapshot
    assert at_one.version == 1
    assert at_one.event_time.ToDatetime() == appended[0].recorded_at.replace(tzinfo=None)

    # Asking again returns the stored snapshot, not a second one.
    again = (
        await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=3))
    ).snapshot
    assert again == latest
    again_latest = (
        await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id))
    ).snapshot
    assert again_latest.snapshot_id == latest.snapshot_id
    assert [s.version for s in await list_all(stack.api, fund_id)] == [3, 1]

    # v2 builds on v1: one event folded since the previous snapshot.
    at_two = (
        await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=2))
    ).snapshot
    assert at_two.events_since_previous == 1
    state = await stack.api.GetFundStateAt(pb.GetFundStateAtRequest(fund_id=fund_id, at_version=2))
    assert state.snapshot_id == at_two.snapshot_id
    assert state.state.called_cents == 10


async def test_concurrent_manual_snapshots_write_one_row(stack: Stack) -> None:
    fund_id = new_fund()
    await append_spaced(stack.store_stub, fund_id, [fund_created(), capital_called(1)])
    results = await asyncio.gather(
        *(stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id)) for _ in range(8))
    )
    assert len({r.snapshot.snapshot_id for r in results}) == 1
    assert len(await list_all(stack.api, fund_id)) == 1


async def test_manual_snapshot_errors(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=new_fund()))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(unknown.value) == "FUND_NOT_FOUND"

    fund_id = new_fund()
    await append_spaced(stack.store_stub, fund_id, [fund_created(), capital_called(1)])
    with pytest.raises(grpc.aio.AioRpcError) as beyond:
        await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=3))
    assert beyond.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert reason_of(beyond.value) == "VERSION_BEYOND_CURRENT"
    assert metadata_of(beyond.value)["current_version"] == "2"
    assert "current version 2" in (beyond.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as zero:
        await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=0))
    assert zero.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await list_all(stack.api, fund_id) == []
