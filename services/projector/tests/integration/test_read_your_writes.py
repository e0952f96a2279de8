"""GetFundState: appended events become visible; min_version waits, bounded by the deadline."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from fundledger.projector.v1 import projector_pb2 as pb
from fundledger_kernel.fund import FOLD_VERSION
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    company_added,
    details,
    distribution,
    event,
    fund_created,
    get_state,
    investment,
    new_fund,
    valuation,
)


async def test_appended_events_are_visible_with_correct_figures(stack: Stack) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    fund = new_fund()
    await append(stack.client, fund, fund_created("Alpha", 50_000_000))
    await append(
        stack.client,
        fund,
        company_added("acme", "Acme", cap=5_000_000),
        capital_called(20_000_000),
        investment("acme", 4_000_000),
        valuation("acme", 10_000_000),
    )
    last = await append(stack.client, fund, distribution(2_000_000))

    response = await get_state(stub, fund, min_version=last.last_version)

    state = response.state
    assert (state.fund_id, state.name, state.currency) == (fund, "Alpha", "USD")
    assert state.version == last.last_version == 6
    assert response.position == last.last_position
    assert state.committed_cents == 50_000_000
    assert state.called_cents == 20_000_000
    assert state.uncalled_cents == 30_000_000
    assert state.invested_cents == 4_000_000
    assert state.distributed_cents == 2_000_000
    assert state.total_value_cents == 10_000_000
    assert (state.dpi, state.tvpi) == ("0.1000", "0.6000")
    assert state.fold_version == FOLD_VERSION
    [company] = state.companies
    assert (company.company_id, company.name, company.invested_cents) == ("acme", "Acme", 4_000_000)
    assert company.moic == "2.5000"
    assert response.updated_time.seconds > 0


async def test_min_version_waits_for_a_write_in_flight(stack: Stack) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    fund = new_fund()
    await append(stack.client, fund, fund_created())
    await get_state(stub, fund, min_version=1)

    # Asked before the write exists: the call waits for it instead of answering v1.
    waiting = asyncio.create_task(get_state(stub, fund, min_version=3))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    written = await append(stack.client, fund, capital_called(100), capital_called(200))
    response = await waiting
    assert response.state.version == written.last_version == 3
    assert response.state.called_cents == 300

    # And the usual read-your-writes: append, then ask for the version just written.
    written = await append(stack.client, fund, capital_called(5))
    response = await get_state(stub, fund, min_version=written.last_version)
    assert (response.state.version, response.state.called_cents) == (4, 305)


async def test_min_version_never_reached_is_deadline_exceeded_with_current_version(
    stack: Stack,
) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    fund = new_fund()
    written = await append(stack.client, fund, fund_created(), capital_called(1))
    await get_state(stub, fund, min_version=written.last_version)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get_state(stub, fund, min_version=9, deadline=2.0)

    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    reason, metadata = details(caught.value)
    assert reason == "MIN_VERSION_NOT_REACHED"
    assert metadata["current_version"] == "2"
    assert metadata["min_version"] == "9"

    # A call without a deadline waits at most PROJECTOR_MAX_WAIT_SECONDS.
    bounded = stack.stub(await stack.projector(max_wait_seconds=0.5))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await bounded.GetFundState(pb.GetFundStateRequest(fund_id=fund, min_version=9))
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert details(caught.value)[1]["current_version"] == "2"


async def test_unknown_fund_is_not_found(stack: Stack) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    for min_version in (0, 1):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await get_state(stub, new_fund(), min_version=min_version, deadline=1.5)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert details(caught.value)[0] == "FUND_NOT_FOUND"


async def test_malformed_requests_are_invalid_argument(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    stub = stack.stub(projector)
    cases = [
        ("", 0, "fund_id"),
        ("company-1", 0, "fund_id"),
        ("fund-", 0, "fund_id"),
        ("fund-a b", 0, "fund_id"),
        ("fund-ok", -1, "min_version"),
    ]
    for fund_id, min_version, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetFundState(
                pb.GetFundStateRequest(fund_id=fund_id, min_version=min_version)
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, fund_id
        assert details(caught.value)[1]["field"] == field


async def test_unknown_event_types_are_skipped_and_counted(stack: Stack) -> None:
    projector = await stack.projector()
    stub = stack.stub(projector)
    fund = new_fund()
    await append(stack.client, fund, fund_created(), event("NOTE_ADDED", text="hello"))
    written = await append(stack.client, fund, capital_called(700))

    response = await get_state(stub, fund, min_version=written.last_version)

    assert response.state.version == 3
    assert response.state.skipped_events == 1
    assert response.state.called_cents == 700
