"""ListReallocationAudit: the REALLOCATION_COMMITTED events of the log, newest first, paged."""

from __future__ import annotations

import grpc
import pytest
from allocation_stack import Stack
from allocation_support import Company, new_fund, proposals, read_from, reason_of, seed_fund
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.allocation.v1 import allocation_pb2_grpc

PORTFOLIO = [Company("a", "Alpha", planned=100), Company("b", "Bravo", planned=200)]


async def _commit(
    stack: Stack, fund: str, version: int, company: str, amount: int, who: str
) -> int:
    """Commits as the person ``who`` (a fund manager of tenant "dev"), naming themselves."""
    token = stack.secure.token(who, roles=("fund-manager",))
    async with stack.secure.channel(stack.allocation.server.address, token) as channel:
        response = await allocation_pb2_grpc.AllocationServiceStub(channel).CommitReallocation(
            pb.CommitReallocationRequest(
                fund_id=fund,
                expected_version=version,
                proposals=proposals((company, amount)),
                reason=f"{company} to {amount}",
                user_id=who,
            )
        )
    return int(response.new_version)


async def test_audit_lists_commits_newest_first_with_their_details(stack: Stack) -> None:
    fund = new_fund()
    v0 = await seed_fund(stack.store, fund, PORTFOLIO)
    v1 = await _commit(stack, fund, v0, "a", 150, "alice")
    v2 = await _commit(stack, fund, v1, "b", 50, "bob")
    v3 = await _commit(stack, fund, v2, "a", 0, "carol")

    response = await stack.api.ListReallocationAudit(pb.ListReallocationAuditRequest(fund_id=fund))

    assert response.next_page_token == ""
    assert [(e.baseline_version, e.new_version) for e in response.entries] == [
        (v2, v3),
        (v1, v2),
        (v0, v1),
    ]
    assert [(e.reason, e.user_id) for e in response.entries] == [
        ("a to 0", "carol"),
        ("b to 50", "bob"),
        ("a to 150", "alice"),
    ]
    newest = response.entries[0]
    assert [
        (c.company_id, c.name, c.from_cents, c.to_cents, c.delta_cents) for c in newest.changes
    ] == [("a", "Alpha", 150, 0, -150)]
    assert (newest.totals.before_cents, newest.totals.after_cents, newest.totals.delta_cents) == (
        200,
        50,
        -150,
    )
    [recorded] = await read_from(stack.store, fund, v3)
    assert recorded.event_type == "REALLOCATION_COMMITTED"
    assert newest.event_id == recorded.event_id
    assert newest.commit_time == recorded.recorded_at


async def test_audit_pages_by_version(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    versions = []
    for amount in range(1, 6):
        version = await _commit(stack, fund, version, "a", amount, "u")
        versions.append(version)

    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = await stack.api.ListReallocationAudit(
            pb.ListReallocationAuditRequest(fund_id=fund, page_size=2, page_token=token)
        )
        pages += 1
        seen.extend(e.new_version for e in page.entries)
        token = page.next_page_token
        if not token:
            break
        # A commit landing while the caller pages shifts nothing on later pages.
        if pages == 1:
            await _commit(stack, fund, version, "b", 7, "u")
    assert pages == 3
    assert seen == sorted(versions, reverse=True)


async def test_a_fund_without_reallocations_has_an_empty_trail(stack: Stack) -> None:
    fund = new_fund()
    await seed_fund(stack.store, fund, PORTFOLIO)
    response = await stack.api.ListReallocationAudit(pb.ListReallocationAuditRequest(fund_id=fund))
    assert list(response.entries) == []
    assert response.next_page_token == ""


async def test_audit_errors(stack: Stack) -> None:
    fund, other = new_fund(), new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    for amount in (1, 2):
        version = await _commit(stack, fund, version, "a", amount, "u")
    await seed_fund(stack.store, other, PORTFOLIO)
    page = await stack.api.ListReallocationAudit(
        pb.ListReallocationAuditRequest(fund_id=fund, page_size=1)
    )
    assert page.next_page_token

    cases = [
        (
            pb.ListReallocationAuditRequest(fund_id=new_fund()),
            grpc.StatusCode.NOT_FOUND,
            "FUND_NOT_FOUND",
        ),
        (
            pb.ListReallocationAuditRequest(fund_id=other, page_token=page.next_page_token),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_PAGE_TOKEN",
        ),
        (
            pb.ListReallocationAuditRequest(fund_id=fund, page_size=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "PAGE_SIZE_INVALID",
        ),
    ]
    for request, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.ListReallocationAudit(request)
        assert caught.value.code() == code
        assert reason_of(caught.value) == reason
