"""Tenant isolation against real servers (docs/security.md, "Isolation"): a person of another
tenant gets NOT_FOUND FUND_NOT_FOUND for a fund — exactly what a fund that does not exist
gets — from every RPC, and nothing is written for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from fundledger.eventstore.v1 import eventstore_pb2_grpc
from fundledger.snapshotter.v1 import snapshotter_pb2 as pb
from fundledger.snapshotter.v1 import snapshotter_pb2_grpc
from snapshotter_stack import Stack, StackFactory, wait_seen
from snapshotter_support import append_many, new_fund, reason_of

Call = Callable[[str], Awaitable[Any]]


@pytest.fixture
async def channels() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


def _stubs(stack: Stack, exits: AsyncExitStack, token: str) -> tuple[Any, Any]:
    """(snapshotter, event store) stubs calling as the owner of ``token``."""
    api = stack.secure.channel(f"127.0.0.1:{stack.snapshotter.server.port}", token)
    store = stack.secure.channel(stack.settings.eventstore_address, token)
    for channel in (api, store):
        exits.push_async_callback(channel.close, None)
    return (
        snapshotter_pb2_grpc.SnapshotterServiceStub(api),
        eventstore_pb2_grpc.EventStoreServiceStub(store),
    )


async def _refused(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), reason_of(caught.value)


def _every_rpc(api: Any) -> list[Call]:
    now = pb.GetFundStateAtRequest()
    now.at_time.FromDatetime(datetime.now(UTC))
    return [
        lambda f: api.GetFundStateAt(pb.GetFundStateAtRequest(fund_id=f, at_version=1)),
        lambda f: api.GetFundStateAt(pb.GetFundStateAtRequest(fund_id=f, at_time=now.at_time)),
        lambda f: api.ListSnapshots(pb.ListSnapshotsRequest(fund_id=f)),
        lambda f: api.GetTimeline(pb.GetTimelineRequest(fund_id=f)),
        lambda f: api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=f)),
        lambda f: api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=f, at_version=2)),
    ]


async def _snapshot_rows(stack: Stack, fund_id: str) -> list[tuple[int, str | None]]:
    async with stack.snapshotter.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT version, tenant FROM snapshotter.snapshots WHERE fund_id = $1 ORDER BY 1",
            fund_id,
        )
    return [(r["version"], r["tenant"]) for r in rows]


async def test_another_tenants_fund_is_not_found_in_every_rpc(
    stack_factory: StackFactory, channels: AsyncExitStack
) -> None:
    stack = await stack_factory()
    secure = stack.secure
    a_api, a_store = _stubs(stack, channels, secure.token("ada", roles=("admin",), tenant="a"))
    b_api, b_store = _stubs(stack, channels, secure.token("bo", roles=("admin",), tenant="b"))
    ours, theirs, missing = new_fund(), new_fund(), new_fund()
    await append_many(a_store, ours, 3)
    await append_many(b_store, theirs, 3)
    await wait_seen(stack, ours, 3)
    await wait_seen(stack, theirs, 3)
    made = await b_api.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=theirs))
    assert made.snapshot.version == 3
    assert await _snapshot_rows(stack, theirs) == [(3, "b")]  # the row carries the tenant

    for rpc in _every_rpc(a_api):
        assert (
            await _refused(rpc(theirs))
            == await _refused(rpc(missing))
            == (grpc.StatusCode.NOT_FOUND, "FUND_NOT_FOUND")
        )
    # Nothing written for the caller of tenant a.
    assert await _snapshot_rows(stack, theirs) == [(3, "b")]

    # Also for a fund the snapshotter has not recorded a tenant for (looked up in the log).
    async with stack.snapshotter.pool.acquire() as conn:
        await conn.execute("DELETE FROM snapshotter.fund_progress WHERE fund_id = $1", theirs)
    for rpc in _every_rpc(a_api):
        assert await _refused(rpc(theirs)) == (grpc.StatusCode.NOT_FOUND, "FUND_NOT_FOUND")
    assert await _snapshot_rows(stack, theirs) == [(3, "b")]

    # Each tenant is served its own fund by every RPC.
    for api, fund in ((a_api, ours), (b_api, theirs)):
        for rpc in _every_rpc(api):
            await rpc(fund)
    listed = await b_api.ListSnapshots(pb.ListSnapshotsRequest(fund_id=theirs))
    assert [(s.version, s.fund_id) for s in listed.snapshots] == [(3, theirs), (2, theirs)]


async def test_permissions_and_a_person_without_a_tenant(
    stack_factory: StackFactory, channels: AsyncExitStack
) -> None:
    stack = await stack_factory()
    secure = stack.secure
    fund = new_fund()
    await append_many(stack.store_stub, fund, 2)  # as admin "alice" of tenant "dev"
    await wait_seen(stack, fund, 2)
    viewer, _ = _stubs(stack, channels, secure.token("vic", roles=("fund-viewer",), tenant="dev"))

    # A viewer reads the fund's history but may not take a snapshot: nothing is written.
    state = await viewer.GetFundStateAt(pb.GetFundStateAtRequest(fund_id=fund, at_version=2))
    assert state.state.version == 2
    assert await _refused(viewer.CreateSnapshot(pb.CreateSnapshotRequest(fund_id=fund))) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_MISSING",
    )
    assert await _snapshot_rows(stack, fund) == []

    nobody, _ = _stubs(stack, channels, secure.token("nia", roles=("admin",), tenant=None))
    for rpc in _every_rpc(nobody):
        assert await _refused(rpc(fund)) == (grpc.StatusCode.PERMISSION_DENIED, "TENANT_MISSING")
    assert await _snapshot_rows(stack, fund) == []
