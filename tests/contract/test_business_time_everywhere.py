"""Business time and schema versions agree across every reader of the whole stack.

One fund's history mixes schema versions 1 and 2 and books events late (a second append whose
events are effective before what the first one holds). The projector (over the bus), the
snapshotter (from the log, at now and at an earlier known time), allocation (its own view) and
the timeline's payloads must all give what the kernel's fold of the log gives.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from fundledger.allocation.v1 import allocation_pb2, allocation_pb2_grpc
from fundledger.eventstore.v1 import events_pb2, eventstore_pb2, eventstore_pb2_grpc
from fundledger.fund.v1 import events_pb2 as fund_events
from fundledger.projector.v1 import projector_pb2, projector_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2, snapshotter_pb2_grpc
from fundledger_kernel.fund import empty_state, state_to_proto
from fundledger_kernel.fund.fold_input import fold_logged, fold_selected
from fundledger_platform.recorded import logged_event
from google.protobuf.timestamp_pb2 import Timestamp

from tests.support.full_stack import FullStack

CALL_SECONDS = 20.0


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def event(
    event_type: str, data: dict[str, object], effective: str | None = None, schema_version: int = 1
) -> events_pb2.EventData:
    message = events_pb2.EventData(
        event_type=event_type, data=json.dumps(data).encode(), schema_version=schema_version
    )
    if effective is not None:
        message.effective_at.CopyFrom(stamp(at(effective)))
    return message


FIRST = [
    event(
        "FUND_CREATED", {"name": "Two Clocks", "committed_capital_cents": 10**9, "currency": "USD"}
    ),
    event("COMPANY_ADDED", {"company_id": "acme", "name": "Acme"}, "2025-01-10"),
    event("INVESTMENT_MADE", {"company_id": "acme", "amount_cents": 1_000_000}, "2025-02-01"),
    event(
        "RESERVE_ALLOCATED",
        {"company_id": "acme", "planned_reserves_cents": 500_000},
        "2025-06-30",
    ),
    event(
        "VALUATION_UPDATED",
        {
            "company_id": "acme",
            "valuation_cents": 3_000_000,
            "method": "VALUATION_METHOD_LAST_ROUND",
        },
        "2025-12-31",
        schema_version=2,
    ),
]
# Booked later, effective before what the first append holds.
LATE = [
    event("VALUATION_UPDATED", {"company_id": "acme", "valuation_cents": 2_000_000}, "2025-09-30"),
    event(
        "RESERVE_ALLOCATED",
        {"company_id": "acme", "planned_reserves_cents": 200_000},
        "2025-03-31",
    ),
    event(
        "INVESTMENT_MADE",
        {"company_id": "acme", "amount_cents": 250_000, "instrument": "INSTRUMENT_SAFE"},
        "2025-04-15",
        schema_version=2,
    ),
]


@pytest.fixture(scope="module")
async def channels(full_stack: FullStack) -> AsyncIterator[dict[str, grpc.aio.Channel]]:
    names = ("event-store", "projector", "snapshotter", "allocation")
    opened = {name: full_stack.secure.channel(full_stack.address(name)) for name in names}
    try:
        yield opened
    finally:
        for channel in opened.values():
            await channel.close(None)


async def test_every_reader_folds_a_mixed_backdated_history_as_the_kernel_does(
    channels: dict[str, grpc.aio.Channel],
) -> None:
    fund = f"fund-{uuid.uuid4()}"
    store = eventstore_pb2_grpc.EventStoreServiceStub(channels["event-store"])
    projector = projector_pb2_grpc.ProjectorServiceStub(channels["projector"])
    snapshotter = snapshotter_pb2_grpc.SnapshotterServiceStub(channels["snapshotter"])
    allocation = allocation_pb2_grpc.AllocationServiceStub(channels["allocation"])

    async def append(events: list[events_pb2.EventData]) -> eventstore_pb2.AppendToStreamResponse:
        return await store.AppendToStream(
            eventstore_pb2.AppendToStreamRequest(stream_id=fund, events=events),
            timeout=CALL_SECONDS,
        )

    first = await append(FIRST)
    # The projector holds the first append before the late events arrive over the bus.
    await projector.GetFundState(
        projector_pb2.GetFundStateRequest(fund_id=fund, min_version=first.last_version),
        timeout=CALL_SECONDS,
    )
    last = await append(LATE)

    read = store.ReadStream(eventstore_pb2.ReadStreamRequest(stream_id=fund), timeout=CALL_SECONDS)
    log = [logged_event(e) async for page in read for e in page.events]
    assert [e.version for e in log] == list(range(1, 9))
    expected = fold_logged(empty_state(fund), log)
    acme = expected.companies["acme"]
    # The fold itself: latest effective wins, whatever was recorded last.
    assert (acme.valuation, acme.valuation_method) == (
        3_000_000,
        fund_events.VALUATION_METHOD_LAST_ROUND,
    )
    assert (acme.planned_reserves, acme.invested) == (500_000, 1_250_000)
    assert acme.instrument == fund_events.INSTRUMENT_SAFE  # April's SAFE after February's v1 equity

    projected = await projector.GetFundState(
        projector_pb2.GetFundStateRequest(fund_id=fund, min_version=last.last_version),
        timeout=CALL_SECONDS,
    )
    assert projected.state == state_to_proto(expected)

    now = await snapshotter.GetFundStateAt(
        snapshotter_pb2.GetFundStateAtRequest(fund_id=fund), timeout=CALL_SECONDS
    )
    assert now.state == state_to_proto(expected)

    q3 = at("2025-09-30T23:59:59")
    reported_at = first.recorded_at.ToDatetime(tzinfo=UTC)
    for known_at in (reported_at, None):
        request = snapshotter_pb2.GetFundStateAtRequest(fund_id=fund, effective_at=stamp(q3))
        if known_at is not None:
            request.known_at.CopyFrom(stamp(known_at))
        answer = await snapshotter.GetFundStateAt(request, timeout=CALL_SECONDS)
        selected = fold_selected(empty_state(fund), log, effective_at=q3, known_at=known_at)
        assert answer.state == state_to_proto(selected)
    assert selected.companies["acme"].valuation == 2_000_000  # Q3 as known now: the late mark

    preview = await allocation.PreviewReallocation(
        allocation_pb2.PreviewReallocationRequest(
            fund_id=fund,
            expected_version=last.last_version,
            proposals=[allocation_pb2.Proposal(company_id="acme", planned_reserves_cents=600_000)],
        ),
        timeout=CALL_SECONDS,
    )
    assert [(c.from_cents, c.to_cents) for c in preview.changes] == [(500_000, 600_000)]

    timeline = await snapshotter.GetTimeline(
        snapshotter_pb2.GetTimelineRequest(fund_id=fund), timeout=CALL_SECONDS
    )
    investments = {}
    for entry in timeline.entries:
        if entry.event.event_type == "INVESTMENT_MADE":
            payload = fund_events.InvestmentMade()
            assert entry.payload.Unpack(payload)
            investments[entry.event.version] = payload.instrument
    # The v1 investment reads in the newest shape: EQUITY.
    assert investments == {3: fund_events.INSTRUMENT_EQUITY, 8: fund_events.INSTRUMENT_SAFE}
