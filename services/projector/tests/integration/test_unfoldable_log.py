"""A fund's log that cannot be folded (a stored payload that does not decode): that fund
stops where it was, alerted, never retried in a loop, and every other fund goes on."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import pytest
from fundledger.projector.v1 import projector_pb2 as pb
from fundledger_kernel.fund.fold_input import LoggedEvent
from projector.bootstrap import Projector
from projector.service_layer.apply import Outcome
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    counter,
    details,
    fund_created,
    get_state,
    insert_unreadable_event,
    new_fund,
    stored_row,
    wait_all_acknowledged,
    wait_until,
)

HALTED = "fundledger_consumer_halted_streams"


def _count_applies(projector: Projector, fund_id: str) -> list[list[int]]:
    """The versions of every apply of `fund_id` from here on."""
    calls: list[list[int]] = []
    apply = projector.applier.apply

    async def counted(fund: str, events: Sequence[LoggedEvent], *, refold: bool = False) -> Outcome:
        if fund == fund_id:
            calls.append([e.version for e in events])
        return await apply(fund, events, refold=refold)

    projector.applier.apply = counted  # type: ignore[method-assign]
    return calls


async def test_an_unreadable_payload_halts_that_fund_on_the_bus_and_others_flow(
    stack: Stack,
) -> None:
    projector = await stack.projector(catchup_enabled=False, ack_wait_seconds=2.0)
    stub = stack.stub(projector)
    bad, good = new_fund(), new_fund()
    await append(stack.client, bad, fund_created("Bad"), capital_called(1))
    await get_state(stub, bad, min_version=2)
    calls = _count_applies(projector, bad)

    await insert_unreadable_event(stack.dsn, bad, 3)
    await append(stack.client, bad, capital_called(5))  # v4, behind the unreadable v3
    await append(stack.client, good, fund_created("Good"), capital_called(2))

    async def halted() -> bool:
        return bad in projector.consumer.halted

    await wait_until(halted, "the bus consumer to halt the fund")
    written = await append(stack.client, good, capital_called(3))  # after the halt
    response = await get_state(stub, good, min_version=written.last_version)
    assert (response.state.version, response.state.called_cents) == (3, 5)

    # Terminated, not left to redelivery: nothing of the halted fund stays pending.
    await wait_all_acknowledged(stack.nats_url, stack.bus["bus_stream"])
    assert len(calls) == 1, calls  # handled once, then never again
    assert calls[0][0] == 3
    assert "v3: CAPITAL_CALLED payload unreadable" in projector.consumer.halted[bad]
    assert counter(HALTED, {"durable": "projector"}) == 1
    # The fund's row stops at the version before.
    assert (await get_state(stub, bad)).state.version == 2
    row = await stored_row(stack.dsn, bad)
    assert row is not None
    assert row["version"] == 2


async def test_the_catch_up_sets_an_unfoldable_fund_aside_and_goes_on(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    stub = stack.stub(projector)
    bad, good = new_fund(), new_fund()
    await append(stack.client, bad, fund_created("Bad"), capital_called(1))
    await projector.catchup.run_once()
    bad_at = await insert_unreadable_event(stack.dsn, bad, 3)
    await append(stack.client, bad, capital_called(5))
    await append(stack.client, good, fund_created("Good"), capital_called(2))

    assert await projector.catchup.run_once() == 2  # good's two; bad's do not stop the pass
    assert "CAPITAL_CALLED payload unreadable" in projector.catchup.halted[bad]
    assert (await get_state(stub, bad)).state.version == 2
    assert (await get_state(stub, good)).state.version == 2
    # Held below the fund's first unapplied event, so a restart after a repair applies it.
    assert await projector.rows.checkpoint() == bad_at - 1
    status = await stub.GetProjectionStatus(pb.GetProjectionStatusRequest())
    assert (status.lag_events, status.projected_position) == (2, bad_at - 1)

    # Later passes go on with the others and do not try the set-aside fund again.
    calls = _count_applies(projector, bad)
    await append(stack.client, good, capital_called(3))
    assert await projector.catchup.run_once() == 1
    assert (await get_state(stub, good)).state.version == 3
    assert calls == []
    assert await projector.rows.checkpoint() == bad_at - 1

    # A periodic catch-up (a fresh process: it meets the fund again) keeps running too.
    periodic = await stack.projector(consumer_enabled=False)
    written = await append(stack.client, good, capital_called(4))
    response = await get_state(stack.stub(periodic), good, min_version=written.last_version)
    assert response.state.called_cents == 9

    async def set_aside() -> bool:
        return bad in periodic.catchup.halted

    await wait_until(set_aside, "the periodic catch-up to set the fund aside")
    assert (await get_state(stub, bad)).state.version == 2


async def test_a_rebuild_over_an_unfoldable_log_is_data_loss_and_swaps_nothing(
    stack: Stack,
) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    stub = stack.stub(projector, stack.operator_token())  # the whole-table rebuild
    bad, good = new_fund(), new_fund()
    await append(stack.client, bad, fund_created("Bad"), capital_called(1))
    await append(stack.client, good, fund_created("Good"), capital_called(2))
    await projector.catchup.run_once()
    await insert_unreadable_event(stack.dsn, bad, 3)
    before = await stored_row(stack.dsn, good)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RebuildProjection(pb.RebuildProjectionRequest(), timeout=30)

    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    reason, metadata = details(caught.value)
    assert reason == "FUND_EVENT_UNREADABLE"
    assert (metadata["fund_id"], metadata["version"]) == (bad, "3")
    assert await stored_row(stack.dsn, good) == before  # the live table was kept
    status = await stub.GetProjectionStatus(pb.GetProjectionStatusRequest())
    assert (status.fund_count, status.rebuilding) == (2, False)
