"""GetFundState never writes: a stored row this fold cannot use is answered from the log,
folded in memory, and left as it is; a log that cannot be folded is DATA_LOSS."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from fundledger.projector.v1 import projector_pb2 as pb
from fundledger_kernel.fund import FOLD_VERSION
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    damage_event,
    details,
    fund_created,
    get_state,
    new_fund,
    overwrite_row,
    stored_row,
)


async def _projected(stack: Stack, stub: Any, *amounts: int) -> str:
    fund = new_fund()
    written = await append(
        stack.client, fund, fund_created("Kept"), *(capital_called(a) for a in amounts)
    )
    await get_state(stub, fund, min_version=written.last_version)
    return fund


async def test_a_damaged_row_is_answered_from_the_log_and_not_written(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    projector = await stack.projector()
    fund = await _projected(stack, stack.stub(projector), 4, 5)
    # This fold's number, but JSON that does not read back as a state.
    await overwrite_row(stack.dsn, fund, FOLD_VERSION, json.dumps({"fold_version": FOLD_VERSION}))
    before = await stored_row(stack.dsn, fund)
    # A replica that has not answered for this fund yet (nothing cached).
    reader = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    stub = stack.stub(reader)

    for _ in range(2):  # the second from the read cache
        response = await get_state(stub, fund)
        assert (response.state.name, response.state.version) == ("Kept", 3)
        assert response.state.called_cents == 9
    assert await stored_row(stack.dsn, fund) == before
    folded = [r for r in caplog.records if "answering from the log" in r.getMessage()]
    assert len(folded) == 1

    # The apply path repairs it at the same version; the reader notices the new row.
    await reader.applier.refold(fund)
    repaired = await stored_row(stack.dsn, fund)
    assert repaired is not None
    assert (repaired["version"], repaired["fold_version"]) == (3, FOLD_VERSION)
    assert repaired["updated_at"] > before["updated_at"]
    response = await get_state(stub, fund)
    assert (response.state.version, response.state.called_cents) == (3, 9)
    assert (
        response.updated_time.ToDatetime().replace(tzinfo=repaired["updated_at"].tzinfo)
        == (repaired["updated_at"])
    )


async def test_an_unusable_row_over_an_unfoldable_log_is_data_loss(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    stub = stack.stub(projector)
    fund, gap = new_fund(), new_fund()
    for f in (fund, gap):
        await append(stack.client, f, fund_created(), capital_called(1), capital_called(2))
        await projector.catchup.run_once()
    await damage_event(stack.dsn, fund, 2)
    await overwrite_row(stack.dsn, fund, FOLD_VERSION - 1, "{}")
    # A row ahead of the log (which ends at 3): the versions it stands for are not there.
    await overwrite_row(stack.dsn, gap, FOLD_VERSION - 1, "{}", version=5)
    before = await stored_row(stack.dsn, fund)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get_state(stub, fund)
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    reason, metadata = details(caught.value)
    assert reason == "FUND_EVENT_UNREADABLE"
    assert metadata == {"fund_id": fund, "version": "2", "event_type": "CAPITAL_CALLED"}
    assert await stored_row(stack.dsn, fund) == before

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get_state(stub, gap)
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert details(caught.value) == ("FUND_LOG_GAP", {"fund_id": gap, "version": "4"})


async def test_an_unusable_row_while_the_event_store_is_down_is_unavailable(
    stack: Stack,
) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    stub = stack.stub(projector)
    fund = new_fund()
    await append(stack.client, fund, fund_created())
    await projector.catchup.run_once()
    await overwrite_row(stack.dsn, fund, FOLD_VERSION - 1, "{}")
    await stack.store.server.stop(0.5)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get_state(stub, fund)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert details(caught.value)[0] == "EVENT_STORE_UNAVAILABLE"
    # The status reads the log too: the same retryable answer, not INTERNAL.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetProjectionStatus(pb.GetProjectionStatusRequest(), timeout=15)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    reason, metadata = details(caught.value)
    assert (reason, metadata["eventstore_code"]) == ("EVENT_STORE_UNAVAILABLE", "UNAVAILABLE")
