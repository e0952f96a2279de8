"""PreviewReallocation against a real event store: read-only, exact, current."""

from __future__ import annotations

import grpc
import pytest
from allocation_stack import Stack
from allocation_support import (
    Company,
    event_data,
    new_fund,
    proposals,
    reason_of,
    seed_fund,
    stream_version,
)
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2 as es

PORTFOLIO = [
    Company("acme", "Acme", cap=200_000_000, planned=100_000_000),
    Company("beta", "Beta", cap=0, planned=90_000_000),
    Company("gamma", "Gamma", cap=50_000_000, planned=80_000_000),
    Company("delta", "Delta", cap=0, planned=70_000_000),
]


async def test_preview_reports_changes_totals_findings_and_writes_nothing(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)

    response = await stack.api.PreviewReallocation(
        pb.PreviewReallocationRequest(
            fund_id=fund,
            expected_version=version,
            proposals=proposals(("acme", 150_000_000), ("beta", 90_000_000), ("gamma", 60_000_000)),
        )
    )

    assert await stream_version(stack.store, fund) == version  # nothing written
    assert response.current_version == version
    assert [
        (c.company_id, c.name, c.from_cents, c.to_cents, c.delta_cents) for c in response.changes
    ] == [
        ("acme", "Acme", 100_000_000, 150_000_000, 50_000_000),
        ("gamma", "Gamma", 80_000_000, 60_000_000, -20_000_000),
    ]
    assert (
        response.totals.before_cents,
        response.totals.after_cents,
        response.totals.delta_cents,
    ) == (340_000_000, 370_000_000, 30_000_000)
    # gamma's 600,000.00 is over its 500,000.00 cap; acme would hold 40.54 % (> 30 %).
    assert [(f.type, f.severity, f.company_id) for f in response.findings] == [
        (pb.FINDING_TYPE_CAP_EXCEEDED, pb.SEVERITY_ERROR, "gamma"),
        (pb.FINDING_TYPE_HIGH_CONCENTRATION, pb.SEVERITY_WARNING, "acme"),
    ]
    assert not response.commit_allowed


async def test_preview_follows_the_log_as_it_grows(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    request = pb.PreviewReallocationRequest(
        fund_id=fund, expected_version=version, proposals=proposals(("delta", 1))
    )
    first = await stack.api.PreviewReallocation(request)
    assert first.commit_allowed

    # Someone else moves delta's reserves: the next preview sees it, exactly.
    await stack.store.AppendToStream(
        es.AppendToStreamRequest(
            stream_id=fund,
            events=[
                event_data(
                    "RESERVE_ALLOCATED", {"company_id": "delta", "planned_reserves_cents": 5}
                )
            ],
        )
    )
    second = await stack.api.PreviewReallocation(request)
    assert second.current_version == version + 1
    assert [(c.from_cents, c.to_cents) for c in second.changes] == [(5, 1)]
    assert second.findings[0].type == pb.FINDING_TYPE_VERSION_CONFLICT
    assert not second.commit_allowed


async def test_empty_proposal_is_a_finding_not_an_error(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    response = await stack.api.PreviewReallocation(
        pb.PreviewReallocationRequest(fund_id=fund, expected_version=version)
    )
    assert [f.type for f in response.findings] == [pb.FINDING_TYPE_EMPTY_PROPOSAL]
    assert not response.commit_allowed


async def test_unknown_fund_is_not_found(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.PreviewReallocation(
            pb.PreviewReallocationRequest(fund_id=new_fund(), expected_version=1)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(caught.value) == "FUND_NOT_FOUND"


@pytest.mark.parametrize("fund_id", ["", "project-1", "fund-", "fund-a b"])
async def test_malformed_fund_id_is_invalid_argument(stack: Stack, fund_id: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.PreviewReallocation(
            pb.PreviewReallocationRequest(fund_id=fund_id, expected_version=1)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == "FUND_ID_INVALID"


async def test_malformed_proposal_is_invalid_argument_naming_the_field(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.PreviewReallocation(
            pb.PreviewReallocationRequest(
                fund_id=fund, expected_version=version, proposals=proposals(("acme", 1), ("", 2))
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "proposals[1].company_id" in (caught.value.details() or "")
