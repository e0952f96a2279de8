"""GetTimeline: a fund's events in a window, newest first, typed payloads, paged by version."""

from __future__ import annotations

from datetime import datetime

import grpc
import pytest
from fundledger.fund.v1 import events_pb2 as fund_events
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from snapshotter_stack import Stack
from snapshotter_support import (
    append_spaced,
    capital_called,
    company_added,
    ev,
    fund_created,
    investment,
    midway,
    new_fund,
    reason_of,
    rewrite_stored_event,
)


def request(
    fund_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    page_size: int = 0,
    page_token: str = "",
) -> pb.GetTimelineRequest:
    message = pb.GetTimelineRequest(fund_id=fund_id, page_size=page_size, page_token=page_token)
    if start is not None:
        message.start_time.FromDatetime(start)
    if end is not None:
        message.end_time.FromDatetime(end)
    return message


async def test_timeline_newest_first_with_typed_payloads(stack: Stack) -> None:
    fund_id = new_fund()
    await append_spaced(
        stack.store_stub,
        fund_id,
        [
            fund_created(),
            company_added("c1"),
            investment("c1", 1),
            ev("NOTE_ADDED", text="not a fund event type"),
        ],
    )
    # Above 2**53, which an append now refuses (the kernel's MAX_AMOUNT_CENTS) but a stored
    # event may hold: it must stay exact.
    big = {"company_id": "c1", "amount_cents": 9_007_199_254_740_993}
    await rewrite_stored_event(stack.dsn, fund_id, 3, big)
    response = await stack.api.GetTimeline(request(fund_id))
    assert [e.event.version for e in response.entries] == [4, 3, 2, 1]
    assert not response.next_page_token

    note, invested, added, created = response.entries
    assert note.event.event_type == "NOTE_ADDED"
    assert not note.HasField("payload")

    assert invested.payload.Is(fund_events.InvestmentMade.DESCRIPTOR)
    made = fund_events.InvestmentMade()
    assert invested.payload.Unpack(made)
    assert (made.company_id, made.amount_cents) == ("c1", 9_007_199_254_740_993)

    company = fund_events.CompanyAdded()
    assert added.payload.Unpack(company)
    assert company.name == "Acme"
    fund = fund_events.FundCreated()
    assert created.payload.Unpack(fund)
    assert fund.committed_capital_cents == 100_000_000


async def test_timeline_window_and_paging(stack: Stack) -> None:
    fund_id = new_fund()
    t = await append_spaced(
        stack.store_stub, fund_id, [fund_created(), *(capital_called(n) for n in range(1, 7))]
    )  # versions 1..7

    # Inclusive at both ends.
    window = await stack.api.GetTimeline(request(fund_id, t[1].recorded_at, t[4].recorded_at))
    assert [e.event.version for e in window.entries] == [5, 4, 3, 2]
    inside = await stack.api.GetTimeline(
        request(
            fund_id,
            midway(t[1].recorded_at, t[2].recorded_at),
            midway(t[4].recorded_at, t[5].recorded_at),
        )
    )
    assert [e.event.version for e in inside.entries] == [5, 4, 3]

    pages = []
    token = ""
    while True:
        page = await stack.api.GetTimeline(request(fund_id, page_size=3, page_token=token))
        pages.append([e.event.version for e in page.entries])
        token = page.next_page_token
        if not token:
            break
    assert pages == [[7, 6, 5], [4, 3, 2], [1]]

    # A window's pages stop at the window's start.
    first = await stack.api.GetTimeline(
        request(fund_id, t[2].recorded_at, t[5].recorded_at, page_size=2)
    )
    assert [e.event.version for e in first.entries] == [6, 5]
    second = await stack.api.GetTimeline(
        request(fund_id, t[2].recorded_at, t[5].recorded_at, 2, first.next_page_token)
    )
    assert [e.event.version for e in second.entries] == [4, 3]
    assert not second.next_page_token

    # Events appended while paging do not shift the later pages.
    head = await stack.api.GetTimeline(request(fund_id, page_size=3))
    await append_spaced(stack.store_stub, fund_id, [capital_called(99)])  # v8
    rest = await stack.api.GetTimeline(
        request(fund_id, page_size=3, page_token=head.next_page_token)
    )
    assert [e.event.version for e in rest.entries] == [4, 3, 2]


async def test_timeline_errors(stack: Stack) -> None:
    fund_id = new_fund()
    t = await append_spaced(stack.store_stub, fund_id, [fund_created(), capital_called(1)])
    status = grpc.StatusCode
    cases = [
        (request(new_fund()), status.NOT_FOUND, "FUND_NOT_FOUND"),
        (
            request(fund_id, t[1].recorded_at, t[0].recorded_at),
            status.INVALID_ARGUMENT,
            "TIME_RANGE_INVALID",
        ),
        (request(fund_id, page_token="bogus"), status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN"),
        (request(fund_id, page_size=-1), status.INVALID_ARGUMENT, "PAGE_SIZE_INVALID"),
    ]
    for message, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.GetTimeline(message)
        assert caught.value.code() == code
        assert reason_of(caught.value) == reason

    # A ListSnapshots token of this very fund is not a timeline token.
    for version in (1, 2):
        snapshot = pb.CreateSnapshotRequest(fund_id=fund_id, at_version=version)
        await stack.api.CreateSnapshot(snapshot)
    listed = await stack.api.ListSnapshots(pb.ListSnapshotsRequest(fund_id=fund_id, page_size=1))
    assert listed.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stack.api.GetTimeline(request(fund_id, page_token=listed.next_page_token))
    assert reason_of(foreign.value) == "INVALID_PAGE_TOKEN"

    # Nor is a timeline token of another fund.
    other = new_fund()
    await append_spaced(stack.store_stub, other, [fund_created(), capital_called(1)])
    paged = await stack.api.GetTimeline(request(other, page_size=1))
    assert paged.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as elsewhere:
        await stack.api.GetTimeline(request(fund_id, page_token=paged.next_page_token))
    assert reason_of(elsewhere.value) == "INVALID_PAGE_TOKEN"
