"""Time travel and CreateSnapshot at a version ask the event store only for the events they
fold: the fund's current version (GetStreamInfo) is looked up only when the log ends before
the version asked for, to tell NOT_FOUND and OUT_OF_RANGE apart. Counted on the real,
in-process event store's own call metrics."""

from __future__ import annotations

import grpc
import pytest
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from prometheus_client import REGISTRY
from snapshotter_stack import Stack
from snapshotter_support import (
    append_spaced,
    at_version,
    capital_called,
    fund_created,
    later,
    metadata_of,
    new_fund,
    reason_of,
)

EVENT_STORE = "fundledger.eventstore.v1.EventStoreService"


def calls(method: str) -> float:
    """Calls of `method` the event store has answered, whatever their status."""
    total = 0.0
    for family in REGISTRY.collect():
        if family.name != "fundledger_grpc_server_handled":
            continue
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_total")
                and labels.get("service") == EVENT_STORE
                and labels.get("method") == method
            ):
                total += sample.value
    return total


async def three_events(stack: Stack) -> tuple[str, list[float]]:
    fund_id = new_fund()
    appended = await append_spaced(
        stack.store_stub, fund_id, [fund_created(), capital_called(10), capital_called(20)]
    )
    return fund_id, [a.recorded_at.timestamp() for a in appended]


async def test_time_travel_reads_only_the_events(stack: Stack) -> None:
    fund_id, _ = await three_events(stack)
    before = calls("GetStreamInfo")
    by_version = await at_version(stack, fund_id, 2)
    request = pb.GetFundStateAtRequest(fund_id=fund_id)
    request.at_time.GetCurrentTime()
    by_time = await stack.api.GetFundStateAt(request)
    assert (by_version.state.called_cents, by_time.state.called_cents) == (10, 30)
    assert calls("GetStreamInfo") == before


async def test_create_snapshot_at_a_version_reads_only_the_events(stack: Stack) -> None:
    fund_id, _ = await three_events(stack)
    before = calls("GetStreamInfo")
    made = await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=2))
    again = await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=2))
    assert made.snapshot == again.snapshot
    assert made.snapshot.version == 2
    assert calls("GetStreamInfo") == before


async def test_a_short_read_still_names_the_reason(stack: Stack) -> None:
    fund_id, _ = await three_events(stack)
    before = calls("GetStreamInfo")
    with pytest.raises(grpc.aio.AioRpcError) as beyond:
        await at_version(stack, fund_id, 9)
    assert beyond.value.code() is grpc.StatusCode.OUT_OF_RANGE
    assert metadata_of(beyond.value)["current_version"] == "3"
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await at_version(stack, new_fund(), 1)
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as snapshot_beyond:
        await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=4))
    assert snapshot_beyond.value.code() is grpc.StatusCode.OUT_OF_RANGE
    # Only these short reads asked for the stream's current version.
    assert calls("GetStreamInfo") - before == 3


async def test_a_time_before_the_fund_is_not_found(stack: Stack) -> None:
    fund_id, _ = await three_events(stack)
    first = (await at_version(stack, fund_id, 1)).state.last_event_at.ToDatetime()
    request = pb.GetFundStateAtRequest(fund_id=fund_id)
    request.at_time.FromDatetime(later(first, -60))
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await stack.api.GetFundStateAt(request)
    assert early.value.code() is grpc.StatusCode.NOT_FOUND
    assert reason_of(early.value) == "FUND_NOT_FOUND_AT_TIME"
