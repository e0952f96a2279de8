"""Fund figures that would not fit the wire's int64, against the real stack.

An append whose amounts could overflow a fund's sums within a few events is refused before it is
written (INVALID_ARGUMENT INVALID_PAYLOAD naming the field, nothing appended). A fund whose state
still cannot be represented (here a ratio: DPI of a fund that called one cent and distributed
the largest amount allowed) is served as FAILED_PRECONDITION FUND_STATE_OUT_OF_RANGE by the
projector and the snapshotter, never INTERNAL, and the services stay SERVING.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2, eventstore_pb2_grpc
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2, snapshotter_pb2_grpc
from fundledger_kernel.validation import MAX_AMOUNT_CENTS
from fundledger_platform.errors import error_info

from tests.support.full_stack import FullStack

CALL_SECONDS = 15.0


@pytest.fixture(scope="module")
async def channels(full_stack: FullStack) -> AsyncIterator[dict[str, grpc.aio.Channel]]:
    names = ("event-store", "projector", "snapshotter")
    opened = {name: full_stack.secure.channel(full_stack.address(name)) for name in names}
    try:
        yield opened
    finally:
        for channel in opened.values():
            await channel.close(None)


def _event(event_type: str, data: dict[str, object]) -> events_pb2.EventData:
    return events_pb2.EventData(event_type=event_type, data=json.dumps(data).encode())


async def _append(
    channel: grpc.aio.Channel, fund_id: str, events: list[events_pb2.EventData]
) -> eventstore_pb2.AppendToStreamResponse:
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
    return await stub.AppendToStream(
        eventstore_pb2.AppendToStreamRequest(
            stream_id=fund_id, expected_state=eventstore_pb2.STREAM_STATE_ANY, events=events
        ),
        timeout=CALL_SECONDS,
    )


def _created(committed: int) -> events_pb2.EventData:
    data = {"name": "Range", "committed_capital_cents": committed, "currency": "EUR"}
    return _event("FUND_CREATED", data)


async def test_append_beyond_the_amount_bound_is_refused_unwritten(
    channels: dict[str, grpc.aio.Channel],
) -> None:
    fund_id = f"fund-{uuid.uuid4()}"
    for committed in (2**63 - 1, MAX_AMOUNT_CENTS + 1):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _append(channels["event-store"], fund_id, [_created(committed)])
        err = caught.value
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
        info = error_info(err)
        assert info is not None
        assert info.reason == "INVALID_PAYLOAD"
        assert info.metadata["field"] == "events[0].data.committed_capital_cents"
    stub = eventstore_pb2_grpc.EventStoreServiceStub(channels["event-store"])
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetStreamInfo(
            eventstore_pb2.GetStreamInfoRequest(stream_id=fund_id), timeout=CALL_SECONDS
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    # At the bound it is accepted.
    await _append(channels["event-store"], fund_id, [_created(MAX_AMOUNT_CENTS)])


async def test_unrepresentable_state_is_failed_precondition_not_internal(
    channels: dict[str, grpc.aio.Channel],
) -> None:
    fund_id = f"fund-{uuid.uuid4()}"
    appended = await _append(
        channels["event-store"],
        fund_id,
        [
            _created(100),
            _event("CAPITAL_CALLED", {"amount_cents": 1}),
            # DPI = MAX_AMOUNT_CENTS / 1 cent: in basis points far beyond int64.
            _event("DISTRIBUTION_MADE", {"amount_cents": MAX_AMOUNT_CENTS}),
        ],
    )
    projector = projector_pb2_grpc.ProjectorServiceStub(channels["projector"])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await projector.GetFundState(
            projector_pb2.GetFundStateRequest(fund_id=fund_id, min_version=appended.last_version),
            timeout=CALL_SECONDS,
        )
    _assert_out_of_range(caught.value)
    snapshots = snapshotter_pb2_grpc.SnapshotterServiceStub(channels["snapshotter"])
    with pytest.raises(grpc.aio.AioRpcError) as at_version:
        await snapshots.GetFundStateAt(
            snapshotter_pb2.GetFundStateAtRequest(
                fund_id=fund_id, at_version=appended.last_version
            ),
            timeout=CALL_SECONDS,
        )
    _assert_out_of_range(at_version.value)
    # The projector keeps applying: a later fund is served as usual.
    other = f"fund-{uuid.uuid4()}"
    await _append(channels["event-store"], other, [_created(100)])
    state = await projector.GetFundState(
        projector_pb2.GetFundStateRequest(fund_id=other, min_version=1), timeout=CALL_SECONDS
    )
    assert state.state.committed_cents == 100


def _assert_out_of_range(err: grpc.aio.AioRpcError) -> None:
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err
    info = error_info(err)
    assert info is not None
    assert info.reason == "FUND_STATE_OUT_OF_RANGE"
    assert "dpi_bps" in (err.details() or "")
