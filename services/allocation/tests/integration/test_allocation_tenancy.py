"""Tenant isolation and the caller's identity against real servers (docs/security.md,
"Isolation"): another tenant's fund is NOT_FOUND — exactly like a fund that does not exist —
in every RPC, also once it sits in the service's cache; a user_id naming someone else is
refused with nothing written; the audit trail names the verified person."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest
from allocation_stack import Stack
from allocation_support import Company, new_fund, proposals, read_from, reason_of, seed_fund
from allocation_support import stream_version as version_of
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.allocation.v1 import allocation_pb2_grpc
from fundledger.eventstore.v1 import eventstore_pb2_grpc

PORTFOLIO = [Company("a", "Alpha", planned=100), Company("b", "Bravo", planned=200)]
NOT_FOUND = (grpc.StatusCode.NOT_FOUND, "FUND_NOT_FOUND")
Call = Callable[[str], Awaitable[Any]]


@pytest.fixture
async def channels() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exits:
        yield exits


def _as(stack: Stack, exits: AsyncExitStack, token: str) -> tuple[Any, Any]:
    """(allocation, event store) stubs calling as the owner of ``token``."""
    api = stack.secure.channel(stack.allocation.server.address, token)
    store = stack.secure.channel(stack.store_address, token)
    for channel in (api, store):
        exits.push_async_callback(channel.close, None)
    return (
        allocation_pb2_grpc.AllocationServiceStub(api),
        eventstore_pb2_grpc.EventStoreServiceStub(store),
    )


async def _refused(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), reason_of(caught.value)


def _commit(
    fund: str, version: int, user_id: str, amount: int = 150
) -> pb.CommitReallocationRequest:
    return pb.CommitReallocationRequest(
        fund_id=fund,
        expected_version=version,
        proposals=proposals(("a", amount)),
        reason="rebalance",
        user_id=user_id,
    )


def _every_rpc(api: Any, user_id: str) -> list[Call]:
    return [
        lambda f: api.PreviewReallocation(
            pb.PreviewReallocationRequest(
                fund_id=f, expected_version=0, proposals=proposals(("a", 1))
            )
        ),
        lambda f: api.CommitReallocation(_commit(f, 0, user_id)),
        lambda f: api.ListReallocationAudit(pb.ListReallocationAuditRequest(fund_id=f)),
    ]


async def test_another_tenants_fund_is_not_found_in_every_rpc(
    stack: Stack, channels: AsyncExitStack
) -> None:
    secure = stack.secure
    ann_api, ann_store = _as(
        stack, channels, secure.token("ann", roles=("fund-manager",), tenant="a")
    )
    bea_api, bea_store = _as(
        stack, channels, secure.token("bea", roles=("fund-manager",), tenant="b")
    )
    ours, theirs, missing = new_fund(), new_fund(), new_fund()
    v_ours = await seed_fund(ann_store, ours, PORTFOLIO)
    v_theirs = await seed_fund(bea_store, theirs, PORTFOLIO)
    # Tenant b works on its fund first: the fund's view is now in allocation's cache.
    await bea_api.CommitReallocation(_commit(theirs, v_theirs, "bea"))
    await ann_api.CommitReallocation(_commit(ours, v_ours, "ann", 120))
    theirs_at = await version_of(bea_store, theirs)

    for rpc in _every_rpc(ann_api, "ann"):
        assert await _refused(rpc(theirs)) == await _refused(rpc(missing)) == NOT_FOUND
    # Also with the right expected version (the cached shortcut): nothing written.
    assert (
        await _refused(ann_api.CommitReallocation(_commit(theirs, theirs_at, "ann"))) == NOT_FOUND
    )
    assert await version_of(bea_store, theirs) == theirs_at

    # Each tenant's audit lists its own commits only, naming the verified person.
    for api, fund, who in ((ann_api, ours, "ann"), (bea_api, theirs, "bea")):
        audit = await api.ListReallocationAudit(pb.ListReallocationAuditRequest(fund_id=fund))
        assert [e.user_id for e in audit.entries] == [who]


async def test_a_user_id_naming_someone_else_is_refused_and_the_audit_names_the_caller(
    stack: Stack, channels: AsyncExitStack
) -> None:
    secure = stack.secure
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)  # as admin "alice" of tenant "dev"
    manager, _ = _as(stack, channels, secure.token("max", roles=("fund-manager",), tenant="dev"))

    # A manager may not commit in another user's name: refused, nothing written.
    assert await _refused(manager.CommitReallocation(_commit(fund, version, "bob"))) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_MISSING",
    )
    assert await version_of(stack.store, fund) == version

    # One who may act for others (an admin: users.act_for) may name someone; the audit still
    # records who actually called, never the request field.
    committed = await stack.api.CommitReallocation(_commit(fund, version, "bob"))
    [event] = [
        e
        for e in await read_from(stack.store, fund, version + 1)
        if e.event_type == "REALLOCATION_COMMITTED"
    ]
    assert json.loads(event.data)["user_id"] == "alice"
    audit = await manager.ListReallocationAudit(pb.ListReallocationAuditRequest(fund_id=fund))
    assert [(e.new_version, e.user_id) for e in audit.entries] == [(committed.new_version, "alice")]


async def test_permissions_both_ways(stack: Stack, channels: AsyncExitStack) -> None:
    secure = stack.secure
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    viewer, _ = _as(stack, channels, secure.token("vic", roles=("fund-viewer",), tenant="dev"))

    # A viewer previews and reads the audit, but may not commit: nothing is written.
    preview = await viewer.PreviewReallocation(
        pb.PreviewReallocationRequest(
            fund_id=fund, expected_version=version, proposals=proposals(("a", 150))
        )
    )
    assert preview.commit_allowed
    await viewer.ListReallocationAudit(pb.ListReallocationAuditRequest(fund_id=fund))
    assert await _refused(viewer.CommitReallocation(_commit(fund, version, "vic"))) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_MISSING",
    )
    assert await version_of(stack.store, fund) == version

    # An analyst reads activity, not funds.
    analyst, _ = _as(stack, channels, secure.token("ana", roles=("analyst",), tenant="dev"))
    for rpc in _every_rpc(analyst, "ana"):
        assert await _refused(rpc(fund)) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "PERMISSION_MISSING",
        )

    # A person whose token names no tenant is refused every call on a fund.
    nobody, _ = _as(stack, channels, secure.token("nia", roles=("fund-manager",), tenant=None))
    for rpc in _every_rpc(nobody, "nia"):
        assert await _refused(rpc(fund)) == (grpc.StatusCode.PERMISSION_DENIED, "TENANT_MISSING")
    assert await version_of(stack.store, fund) == version
