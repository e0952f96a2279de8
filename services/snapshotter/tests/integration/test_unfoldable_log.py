"""A fund log that cannot be folded (an unreadable payload, a gap): one policy everywhere.

Callers get DATA_LOSS naming the fund and the version; the bus consumer halts that fund (no
redelivery loop) while other funds keep their count snapshots; the catch-up and the daily round
log it and carry on with the other funds.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from prometheus_client import REGISTRY
from snapshotter_stack import Stack, StackFactory, seen_version, wait_seen
from snapshotter_support import (
    append_many,
    append_spaced,
    at_version,
    capital_called,
    eventually,
    fund_created,
    list_all,
    metadata_of,
    new_fund,
    reason_of,
    remove_stored_event,
    rewrite_stored_event,
)

UNREADABLE = {"amount_cents": "lots"}  # CAPITAL_CALLED needs an integer


async def data_loss(call: Awaitable[Any]) -> tuple[str, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS, caught.value
    return reason_of(caught.value), metadata_of(caught.value)


def now_request(fund_id: str) -> pb.GetFundStateAtRequest:
    request = pb.GetFundStateAtRequest(fund_id=fund_id)
    request.at_time.GetCurrentTime()
    return request


async def test_an_unreadable_event_is_data_loss_for_every_fold_a_caller_asks_for(
    stack: Stack,
) -> None:
    fund_id = new_fund()
    await append_spaced(
        stack.store_stub,
        fund_id,
        [fund_created(), capital_called(10), capital_called(20), capital_called(30)],
    )
    await rewrite_stored_event(stack.dsn, fund_id, 3, UNREADABLE)

    expected = {"fund_id": fund_id, "version": "3", "event_type": "CAPITAL_CALLED"}
    for call in (
        stack.api.GetFundStateAt(pb.GetFundStateAtRequest(fund_id=fund_id, at_version=4)),
        stack.api.GetFundStateAt(now_request(fund_id)),
        stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id)),
        stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id, at_version=3)),
    ):
        reason, metadata = await data_loss(call)
        assert reason == "FUND_EVENT_UNREADABLE"
        assert metadata == expected
    assert await list_all(stack.api, fund_id) == []

    # The state before the unreadable event is still exact.
    assert (await at_version(stack, fund_id, 2)).state.called_cents == 10
    # The timeline folds nothing: it shows the stored event, without a typed payload.
    timeline = await stack.api.GetTimeline(pb.GetTimelineRequest(fund_id=fund_id))
    assert [e.event.version for e in timeline.entries] == [4, 3, 2, 1]
    assert not timeline.entries[1].HasField("payload")
    assert timeline.entries[2].HasField("payload")


async def test_a_gap_in_the_log_is_data_loss(stack: Stack) -> None:
    inside, tail = new_fund(), new_fund()
    for fund_id in (inside, tail):
        await append_many(stack.store_stub, fund_id, 5)
    await remove_stored_event(stack.dsn, inside, 3)
    await remove_stored_event(stack.dsn, tail, 5)

    for call in (at_version(stack, inside, 5), stack.api.GetFundStateAt(now_request(inside))):
        reason, metadata = await data_loss(call)
        assert reason == "FUND_LOG_GAP"
        assert (metadata["fund_id"], metadata["version"]) == (inside, "3")

    # The log ends before a version the event store says the fund has: a gap, not OUT_OF_RANGE.
    reason, metadata = await data_loss(at_version(stack, tail, 5))
    assert (reason, metadata["version"]) == ("FUND_LOG_GAP", "5")
    reason, _ = await data_loss(
        stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=tail, at_version=5))
    )
    assert reason == "FUND_LOG_GAP"
    with pytest.raises(grpc.aio.AioRpcError) as beyond:
        await at_version(stack, tail, 6)
    assert beyond.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert (await at_version(stack, tail, 4)).version == 4


async def test_the_bus_consumer_halts_the_fund_and_keeps_the_others_flowing(
    stack_factory: StackFactory,
) -> None:
    # The bus alone: no catch-up round after start-up takes the snapshots instead.
    stack = await stack_factory(catchup_seconds=3600)
    broken, healthy = new_fund(), new_fund()
    await append_many(stack.store_stub, broken, 49)
    await wait_seen(stack, broken, 49)
    await rewrite_stored_event(stack.dsn, broken, 10, UNREADABLE)
    await append_many(stack.store_stub, broken, 1, new=False)  # v50: a count snapshot is due
    await append_many(stack.store_stub, healthy, 50)

    consumer = stack.snapshotter.consumer

    async def settled() -> bool:
        return broken in consumer.halted and len(await list_all(stack.api, healthy)) == 1

    await eventually(settled, "the broken fund halted and the healthy one snapshotted")
    assert [s.version for s in await list_all(stack.api, healthy)] == [50]
    assert await list_all(stack.api, broken) == []
    assert await seen_version(stack, broken) == 49  # its progress stays before the snapshot
    assert "CAPITAL_CALLED payload unreadable" in consumer.halted[broken]
    halted = {"durable": stack.settings.durable}
    assert REGISTRY.get_sample_value("fundledger_consumer_halted_streams", halted) == 1

    # Later events of the halted fund are terminated unhandled, the healthy one still flows.
    await append_many(stack.store_stub, broken, 1, new=False)
    await append_many(stack.store_stub, healthy, 1, new=False)
    await wait_seen(stack, healthy, 51)
    js = stack.snapshotter.bus.jetstream()

    async def nothing_pending() -> bool:
        info = await js.consumer_info(stack.settings.bus_stream, stack.settings.durable)
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    await eventually(nothing_pending, "every message acknowledged or terminated")
    info = await js.consumer_info(stack.settings.bus_stream, stack.settings.durable)
    assert info.num_redelivered == 0
    assert await seen_version(stack, broken) == 49
    assert list(consumer.halted) == [broken]


async def test_the_catch_up_and_the_daily_round_pass_over_an_unfoldable_fund(
    stack_factory: StackFactory,
) -> None:
    # Nothing on the bus, no periodic catch-up: only the calls below move the snapshotter.
    stack = await stack_factory(bus_subject_prefix="nowhere.events", catchup_seconds=3600)
    broken, healthy, short_broken, short_healthy = (new_fund() for _ in range(4))
    await append_many(stack.store_stub, broken, 50)
    await append_many(stack.store_stub, healthy, 50)
    await append_many(stack.store_stub, short_broken, 3)
    await append_many(stack.store_stub, short_healthy, 3)
    await rewrite_stored_event(stack.dsn, broken, 10, UNREADABLE)
    await rewrite_stored_event(stack.dsn, short_broken, 2, UNREADABLE)

    assert await stack.snapshotter.catchup.run_once() == 106
    assert [s.version for s in await list_all(stack.api, healthy)] == [50]
    assert await list_all(stack.api, broken) == []
    assert await seen_version(stack, broken) == 0
    assert await seen_version(stack, short_broken) == 3
    # The checkpoint moved past the broken fund: the next round does not spin on it.
    assert await stack.snapshotter.catchup.run_once() == 0

    made = await stack.snapshotter.daily.run_round(datetime.now(UTC) + timedelta(seconds=1))
    assert [(s.fund_id, s.version) for s in made] == [(short_healthy, 3)]
    assert await list_all(stack.api, short_broken) == []
