"""Many funds in parallel, ListFunds paging, GetProjectionStatus lag."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from fundledger.projector.v1 import projector_pb2 as pb
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    counter,
    details,
    event,
    fund_created,
    get_state,
    new_fund,
    read_logged,
)


async def test_many_funds_progress_in_parallel(stack: Stack) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    funds = [new_fund() for _ in range(20)]

    async def write(n: int, fund: str) -> None:
        await append(stack.client, fund, fund_created(f"P{n}", committed=1_000 * n))
        for amount in (1, 2, 3, 4):
            await append(stack.client, fund, capital_called(amount))

    await asyncio.gather(*(write(n, fund) for n, fund in enumerate(funds)))
    states = await asyncio.gather(*(get_state(stub, fund, min_version=5) for fund in funds))

    for n, response in enumerate(states):
        assert response.state.name == f"P{n}"
        assert (response.state.version, response.state.called_cents) == (5, 10)
        assert response.state.committed_cents == 1_000 * n


async def test_list_funds_pages_by_fund_id(stack: Stack) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    funds = sorted(new_fund() for _ in range(7))
    for n, fund in enumerate(funds):
        await append(stack.client, fund, fund_created(f"L{n}", committed=n + 1))
    for fund in funds:
        await get_state(stub, fund, min_version=1)

    listed: list[pb.FundSummary] = []
    token, pages = "", 0
    while True:
        page = await stub.ListFunds(pb.ListFundsRequest(page_size=3, page_token=token))
        listed.extend(page.funds)
        pages += 1
        token = page.next_page_token
        if not token:
            break

    assert pages == 3
    assert [f.fund_id for f in listed] == funds
    assert [(f.name, f.version, f.committed_cents) for f in listed] == [
        (f"L{n}", 1, n + 1) for n in range(7)
    ]
    assert all(f.updated_time.seconds > 0 for f in listed)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListFunds(pb.ListFundsRequest(page_token="not-a-token"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(caught.value)[0] == "INVALID_PAGE_TOKEN"


async def test_projection_status_lag_goes_to_zero(stack: Stack) -> None:
    # Nothing applies on its own: the test runs the catch-up pass itself.
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    stub = stack.stub(projector)
    a, b = new_fund(), new_fund()
    await append(stack.client, a, fund_created(), capital_called(1))
    await append(stack.client, "note-1", event("NOTE_ADDED", text="not a fund event"))
    last = await append(stack.client, b, fund_created())

    behind = await stub.GetProjectionStatus(pb.GetProjectionStatusRequest())
    assert behind.lag_events == 3
    assert behind.lag_seconds > 0
    assert behind.projected_position == 0
    assert behind.log_head_position == last.last_position == 4
    assert behind.fund_count == 0
    assert counter("fundledger_projector_lag_events") == 3

    await projector.applier.apply(a, (await read_logged(stack.client, a))[:1])
    partly = await stub.GetProjectionStatus(pb.GetProjectionStatusRequest())
    assert (partly.lag_events, partly.projected_position, partly.fund_count) == (2, 1, 1)

    await projector.catchup.run_once()
    caught_up = await stub.GetProjectionStatus(pb.GetProjectionStatusRequest())
    assert caught_up.lag_events == 0
    assert caught_up.lag_seconds == 0
    assert caught_up.projected_position == last.last_position
    assert caught_up.fund_count == 2
    assert not caught_up.rebuilding
    assert counter("fundledger_projector_lag_events") == 0
