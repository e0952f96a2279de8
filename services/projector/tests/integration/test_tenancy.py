"""Tenant isolation against real servers (docs/security.md, "Isolation"): a fund belongs to the
tenant the event store recorded for its stream; a person of another tenant is told NOT_FOUND
exactly as for a fund that does not exist, never sees it listed, and rebuilds only their own."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc
import pytest
from fundledger.projector.v1 import projector_pb2 as pb
from projector_stack import Stack, person_client
from projector_support import (
    append,
    capital_called,
    details,
    fund_created,
    get_state,
    new_fund,
    stored_row,
)


async def _listed(stub: Any) -> set[str]:
    response = await stub.ListFunds(pb.ListFundsRequest(page_size=1000))
    return {f.fund_id for f in response.funds}


async def _refused(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    reason, metadata = details(caught.value)
    return caught.value.code(), reason, metadata


async def test_a_tenant_never_sees_another_tenants_funds(stack: Stack) -> None:
    secure = stack.secure
    ann = secure.token("ann", roles=("fund-manager",), tenant="a")
    bea = secure.token("bea", roles=("fund-manager",), tenant="b")
    writers = [person_client(secure, stack.store, t) for t in (ann, bea)]
    try:
        ours, theirs = new_fund(), new_fund()
        await append(writers[0], ours, fund_created("Ours"), capital_called(5))
        written = await append(writers[1], theirs, fund_created("Theirs"), capital_called(7))
    finally:
        for writer in writers:
            await writer.close()
    projector = await stack.projector(max_wait_seconds=0.5)
    operator = stack.stub(projector, stack.operator_token())
    await get_state(operator, ours, min_version=2)
    await get_state(operator, theirs, min_version=written.last_version)
    # The row records the tenant the event store recorded for the stream.
    assert [(await stored_row(stack.dsn, f) or {}).get("tenant") for f in (ours, theirs)] == [
        "a",
        "b",
    ]

    a_viewer = stack.stub(projector, secure.token("amy", roles=("fund-viewer",), tenant="a"))
    b_viewer = stack.stub(projector, secure.token("bob", roles=("fund-viewer",), tenant="b"))
    assert (await get_state(a_viewer, ours)).state.called_cents == 5
    assert (await get_state(b_viewer, theirs)).state.called_cents == 7

    # Another tenant's fund is NOT_FOUND, exactly like one that does not exist — also when
    # the caller waits for a version (the answer comes after the same wait).
    missing = new_fund()
    for min_version in (0, 1):
        for fund, peer in ((theirs, b_viewer), (ours, a_viewer)):
            other = a_viewer if peer is b_viewer else b_viewer
            code, reason, metadata = await _refused(get_state(other, fund, min_version))
            absent = await _refused(get_state(other, missing, min_version))
            assert (
                (code, reason)
                == (absent[0], absent[1])
                == (
                    grpc.StatusCode.NOT_FOUND,
                    "FUND_NOT_FOUND",
                )
            )
            assert metadata == {"fund_id": fund}

    # Listings: each tenant its own funds, the operator (bound to no tenant) every fund.
    assert await _listed(a_viewer) == {ours}
    assert await _listed(b_viewer) == {theirs}
    assert {ours, theirs} <= await _listed(operator)


async def test_a_tenant_admin_rebuilds_only_their_tenants_funds(stack: Stack) -> None:
    secure = stack.secure
    writers = [
        person_client(secure, stack.store, secure.token(s, roles=("fund-manager",), tenant=t))
        for s, t in (("ann", "a"), ("bea", "b"))
    ]
    try:
        ours, theirs = new_fund(), new_fund()
        await append(writers[0], ours, fund_created("Ours"), capital_called(5))
        await append(writers[1], theirs, fund_created("Theirs"), capital_called(7))
    finally:
        for writer in writers:
            await writer.close()
    projector = await stack.projector()
    operator = stack.stub(projector, stack.operator_token())
    await get_state(operator, ours, min_version=2)
    await get_state(operator, theirs, min_version=2)
    before = {f: await stored_row(stack.dsn, f) for f in (ours, theirs)}

    admin_a = stack.stub(projector, secure.token("ada", roles=("admin",), tenant="a"))
    result = await admin_a.RebuildProjection(pb.RebuildProjectionRequest(), timeout=30)

    assert (result.fund_count, result.events_replayed) == (1, 2)
    after = {f: await stored_row(stack.dsn, f) for f in (ours, theirs)}
    assert after[theirs] == before[theirs]  # not read, not written
    rebuilt, kept = after[ours], before[ours]
    assert rebuilt is not None
    assert kept is not None
    assert rebuilt["updated_at"] > kept["updated_at"]  # folded again from the log
    assert (rebuilt["version"], rebuilt["state"]) == (kept["version"], kept["state"])


async def test_permissions_and_a_person_without_a_tenant(stack: Stack) -> None:
    secure = stack.secure
    projector = await stack.projector(consumer_enabled=False, catchup_enabled=False)
    fund = new_fund()
    await append(stack.client, fund, fund_created("Dev"))

    viewer = stack.stub(projector, secure.token("amy", roles=("fund-viewer",), tenant="dev"))
    # A viewer reads the projection's status (its reads of the log are the projector's own
    # job, not the viewer's: a viewer may not subscribe to the log) but may not rebuild.
    status = await viewer.GetProjectionStatus(pb.GetProjectionStatusRequest(), timeout=15)
    assert (status.lag_events, status.fund_count) == (1, 0)  # nothing applied yet
    code, reason, _ = await _refused(
        viewer.RebuildProjection(pb.RebuildProjectionRequest(), timeout=10)
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
    analyst = stack.stub(projector, secure.token("ana", roles=("analyst",), tenant="dev"))
    code, reason, _ = await _refused(get_state(analyst, fund))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")

    # A person whose token names no tenant is refused every tenant-scoped call.
    nobody = stack.stub(projector, secure.token("nia", roles=("fund-viewer",), tenant=None))
    for call in (get_state(nobody, fund), nobody.ListFunds(pb.ListFundsRequest())):
        code, reason, _ = await _refused(call)
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "TENANT_MISSING")
