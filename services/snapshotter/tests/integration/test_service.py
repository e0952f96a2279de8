"""Start-up, health, migrations and settings of the snapshotter."""

from __future__ import annotations

import asyncpg
import grpc
import pytest
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from snapshotter.bootstrap import SERVICE_NAME, migrate
from snapshotter_stack import Stack, StackFactory
from snapshotter_support import metadata_of, new_fund, reason_of

from tests.support.event_store import EventStoreFactory
from tests.support.health import assert_serving
from tests.support.service_module import run_service_module


async def test_health_serving_when_database_bus_and_event_store_answer(stack: Stack) -> None:
    address = f"127.0.0.1:{stack.snapshotter.server.port}"
    async with stack.secure.channel(address, None) as channel:
        await assert_serving(channel, SERVICE_NAME)


async def test_health_not_serving_without_the_event_store(
    stack_factory: StackFactory, event_store_factory: EventStoreFactory
) -> None:
    # A second store of our own, so stopping it leaves the shared one alone.
    store = await event_store_factory()
    stack = await stack_factory(eventstore_address=f"127.0.0.1:{store.server.port}")
    assert await stack.snapshotter.server.health.refresh()
    await store.server.stop(0.5)
    assert not await stack.snapshotter.server.health.refresh()


async def test_event_store_down_is_unavailable_with_its_code(
    stack_factory: StackFactory, event_store_factory: EventStoreFactory
) -> None:
    store = await event_store_factory()
    stack = await stack_factory(eventstore_address=f"127.0.0.1:{store.server.port}")
    await store.server.stop(0.5)
    fund_id = new_fund()
    calls = [
        stack.api.GetFundStateAt(pb.GetFundStateAtRequest(fund_id=fund_id, at_version=1)),
        stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id)),
        stack.api.GetTimeline(pb.GetTimelineRequest(fund_id=fund_id)),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert reason_of(caught.value) == "EVENT_STORE_UNAVAILABLE"
        assert metadata_of(caught.value)["eventstore_code"] == "UNAVAILABLE"


async def test_migrations_are_idempotent_and_reversible(stack: Stack) -> None:
    await migrate(stack.dsn)  # already applied by the fixture: nothing to do
    conn = await asyncpg.connect(stack.dsn)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'snapshotter'"
            )
        }
        assert tables == {"snapshots", "fund_progress", "catchup_checkpoint", "schema_migrations"}
        await stack.snapshotter.server.stop(0.5)
        await migrate(stack.dsn, down_to=0)
        assert not await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'snapshotter' "
            "AND tablename <> 'schema_migrations'"
        )
        await migrate(stack.dsn)
        assert await conn.fetchval("SELECT count(*) FROM snapshotter.snapshots") == 0
    finally:
        await conn.close()


async def test_list_snapshots_of_unknown_fund_is_not_found(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.ListSnapshots(pb.ListSnapshotsRequest(fund_id=new_fund()))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(caught.value) == "FUND_NOT_FOUND"


@pytest.mark.parametrize("fund_id", ["", "project-1", "fund-", "fund-a b"])
async def test_malformed_fund_id_is_invalid_argument(stack: Stack, fund_id: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund_id))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == "FUND_ID_INVALID"


async def run_module(dsn: str, *args: str) -> tuple[int, str]:
    return await run_service_module("snapshotter", dsn, *args)


async def test_python_m_snapshotter_migrate_up_and_down(fresh_dsn: str) -> None:
    assert (await run_module(fresh_dsn, "migrate"))[0] == 0
    conn = await asyncpg.connect(fresh_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM snapshotter.schema_migrations") == 4
        assert (await run_module(fresh_dsn, "migrate", "down", "0"))[0] == 0
        assert await conn.fetchval("SELECT count(*) FROM snapshotter.schema_migrations") == 0
        assert await conn.fetchval("SELECT to_regclass('snapshotter.snapshots')") is None
    finally:
        await conn.close()
    code, output = await run_module(fresh_dsn, "migrate", "sideways")
    assert code == 2
    assert "usage" in output


async def test_out_of_range_timestamp_is_invalid_argument(stack: Stack) -> None:
    request = pb.GetFundStateAtRequest(fund_id=new_fund())
    request.at_time.seconds = 10**12  # far past year 9999
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.GetFundStateAt(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == "FIELD_MALFORMED"
