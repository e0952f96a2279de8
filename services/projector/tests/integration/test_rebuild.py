"""RebuildProjection: replay into a fresh table while the old one serves, then swap."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest
from fundledger.projector.v1 import projector_pb2 as pb
from projector.adapters import rebuild_lock
from projector_stack import Stack
from projector_support import (
    append,
    capital_called,
    company_added,
    details,
    folded_from_log,
    fund_created,
    get_state,
    investment,
    new_fund,
)


async def test_rebuild_while_serving_swaps_in_an_equal_projection(stack: Stack) -> None:
    projector = await stack.projector(catchup_page_size=7)  # many pages, many swaps' worth
    stub = stack.stub(projector, stack.operator_token())
    funds = [new_fund() for _ in range(6)]
    versions: dict[str, int] = {}
    for n, fund in enumerate(funds):
        await append(stack.client, fund, fund_created(f"F{n}"), company_added("c", "C"))
        written = await append(stack.client, fund, investment("c", 100 * (n + 1)))
        versions[fund] = written.last_version
    for fund in funds:
        await get_state(stub, fund, min_version=versions[fund])

    answered = 0
    stop = asyncio.Event()

    async def read_all_the_time() -> None:
        nonlocal answered
        while not stop.is_set():
            for fund in funds:
                response = await get_state(stub, fund, deadline=5)
                assert response.state.version >= 3
                answered += 1

    async def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            written = await append(stack.client, funds[n % 3], capital_called(1))
            versions[funds[n % 3]] = written.last_version
            n += 1
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(read_all_the_time()), asyncio.create_task(keep_writing())]
    try:
        first = await stub.RebuildProjection(pb.RebuildProjectionRequest(), timeout=30)
        second = await stub.RebuildProjection(pb.RebuildProjectionRequest(), timeout=30)
    finally:
        stop.set()
        await asyncio.gather(*tasks)  # re-raises a failed read

    assert answered > 0
    assert first.fund_count == second.fund_count == 6
    assert second.events_replayed >= first.events_replayed >= 18
    assert second.position >= first.position > 0
    for fund in funds:
        live = await get_state(stub, fund, min_version=versions[fund])
        assert live.state == await folded_from_log(stack.client, fund)
    status = await stub.GetProjectionStatus(pb.GetProjectionStatusRequest())
    assert not status.rebuilding
    assert status.fund_count == 6


async def test_a_concurrent_rebuild_is_refused(stack: Stack) -> None:
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    stub = stack.stub(projector, stack.operator_token())
    # Another replica's rebuild: it holds the rebuild lock.
    other = await asyncpg.connect(stack.dsn)
    try:
        assert await rebuild_lock.try_lock(other)
        status = await stub.GetProjectionStatus(pb.GetProjectionStatusRequest())
        assert status.rebuilding

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RebuildProjection(pb.RebuildProjectionRequest(), timeout=10)

        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert details(caught.value)[0] == "REBUILD_IN_PROGRESS"
    finally:
        await other.close()
    rebuilt = await stub.RebuildProjection(pb.RebuildProjectionRequest(), timeout=10)
    assert rebuilt.fund_count == 0


async def test_batched_reads_after_a_swap_answer_the_new_rows(stack: Stack) -> None:
    """Reads that arrive together share one row read; when every caller already has a cached
    answer that read carries no state. Rows rewritten by a rebuild (same versions, new update
    times) must then be read again with their state, never answered from the old cache."""
    projector = await stack.projector()
    stub = stack.stub(projector, stack.operator_token())
    funds = [new_fund() for _ in range(4)]
    for n, fund in enumerate(funds):
        await append(stack.client, fund, fund_created(f"B{n}"), company_added("c", "C"))
        await get_state(stub, fund, min_version=2)
    before = {fund: (await get_state(stub, fund)).updated_time.ToDatetime() for fund in funds}

    await stub.RebuildProjection(pb.RebuildProjectionRequest(), timeout=30)

    answers = await asyncio.gather(*(get_state(stub, fund) for fund in funds * 8))
    for fund, response in zip(funds * 8, answers, strict=True):
        assert response.state.fund_id == fund
        assert response.state.version == 2
        assert response.updated_time.ToDatetime() > before[fund]
