"""CommitReallocation: one atomic append of exactly the expected events, or nothing at all."""

from __future__ import annotations

import json

import grpc
import pytest
from allocation_stack import Stack
from allocation_support import (
    Company,
    event_data,
    metadata_of,
    new_fund,
    proposals,
    read_from,
    reason_of,
    seed_fund,
    stream_version,
)
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2 as es

PORTFOLIO = [
    Company("acme", "Acme", cap=200_000_000, planned=100_000_000),
    Company("beta", "Beta", planned=90_000_000),
    Company("gamma", "Gamma", cap=50_000_000, planned=40_000_000),
    Company("delta", "Delta", planned=70_000_000),
]


def commit_request(
    fund: str, version: int, *amounts: tuple[str, int], **kw: str
) -> pb.CommitReallocationRequest:
    return pb.CommitReallocationRequest(
        fund_id=fund,
        expected_version=version,
        proposals=proposals(*amounts),
        reason=kw.get("reason", "Q3 reserve review"),
        user_id=kw.get("user_id", "alice"),
        idempotency_key=kw.get("idempotency_key", ""),
    )


async def test_commit_appends_the_changes_then_the_audit_record_atomically(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)

    response = await stack.api.CommitReallocation(
        commit_request(
            fund, version, ("gamma", 30_000_000), ("acme", 150_000_000), ("beta", 90_000_000)
        )
    )

    assert (response.baseline_version, response.new_version) == (version, version + 3)
    assert not response.replayed
    assert [(c.company_id, c.delta_cents) for c in response.changes] == [
        ("acme", 50_000_000),
        ("gamma", -10_000_000),
    ]
    assert (response.totals.before_cents, response.totals.after_cents) == (300_000_000, 340_000_000)
    # acme holds 44 % after: a warning, and the commit went ahead anyway.
    assert [f.type for f in response.findings] == [pb.FINDING_TYPE_HIGH_CONCENTRATION]

    written = await read_from(stack.store, fund, version + 1)
    seed = await read_from(stack.store, fund, version)
    seeded_at = seed[0].recorded_at.ToDatetime().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert [e.version for e in written] == [version + 1, version + 2, version + 3]
    assert [e.event_type for e in written] == [
        "RESERVE_ALLOCATED",
        "RESERVE_ALLOCATED",
        "REALLOCATION_COMMITTED",
    ]
    assert [json.loads(e.data) for e in written[:2]] == [
        {"company_id": "acme", "planned_reserves_cents": 150_000_000},
        {"company_id": "gamma", "planned_reserves_cents": 30_000_000},
    ]
    assert json.loads(written[2].data) == {
        "baseline_version": version,
        "new_version": version + 3,
        "changes": [
            {
                "company_id": "acme",
                "name": "Acme",
                "from_cents": 100_000_000,
                "to_cents": 150_000_000,
                "delta_cents": 50_000_000,
            },
            {
                "company_id": "gamma",
                "name": "Gamma",
                "from_cents": 40_000_000,
                "to_cents": 30_000_000,
                "delta_cents": -10_000_000,
            },
        ],
        "reason": "Q3 reserve review",
        "user_id": "alice",
        "total_before_cents": 300_000_000,
        "total_after_cents": 340_000_000,
        # The seed is effective when it was recorded: both clocks are its commit time.
        "baseline_effective_at": seeded_at,
        "baseline_recorded_at": seeded_at,
    }
    # One batch: one commit time, one correlation id, the caller as user, us as source.
    assert len({(e.recorded_at.seconds, e.recorded_at.nanos) for e in written}) == 1
    assert len({e.correlation_id for e in written}) == 1
    assert written[0].correlation_id
    assert {(e.user_id, e.source) for e in written} == {("alice", "allocation")}
    assert [e.position for e in written] == list(
        range(written[0].position, written[0].position + 3)
    )

    # The next preview sees the committed amounts at the new version.
    after = await stack.api.PreviewReallocation(
        pb.PreviewReallocationRequest(
            fund_id=fund, expected_version=version + 3, proposals=proposals(("acme", 150_000_000))
        )
    )
    assert after.current_version == version + 3
    assert list(after.changes) == []
    assert after.totals.before_cents == 340_000_000


async def test_an_error_finding_blocks_the_commit_and_writes_nothing(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.CommitReallocation(
            commit_request(fund, version, ("gamma", 50_000_001), ("nope", 1), ("beta", -1))
        )

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(caught.value) == "REALLOCATION_BLOCKED"
    assert metadata_of(caught.value) == {
        "fund_id": fund,
        "expected_version": str(version),
        "current_version": str(version),
        "finding_count": "3",
        "finding_0": "CAP_EXCEEDED:gamma",
        "finding_1": "NEGATIVE_ALLOCATION:beta",
        "finding_2": "COMPANY_NOT_FOUND:nope",
    }
    assert await stream_version(stack.store, fund) == version


@pytest.mark.parametrize("previewed", [True, False], ids=["after-preview", "cold"])
async def test_a_change_between_preview_and_commit_is_aborted(
    stack: Stack, previewed: bool
) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    if previewed:  # the service now holds the fund at `version` in memory
        await stack.api.PreviewReallocation(
            pb.PreviewReallocationRequest(
                fund_id=fund, expected_version=version, proposals=proposals(("acme", 1))
            )
        )
    # A change lands between the caller's preview (at `version`) and its commit.
    await stack.store.AppendToStream(
        es.AppendToStreamRequest(
            stream_id=fund,
            events=[event_data("CAPITAL_CALLED", {"amount_cents": 1_000})],
        )
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.CommitReallocation(commit_request(fund, version, ("acme", 1)))

    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert reason_of(caught.value) == "WRONG_EXPECTED_VERSION"
    metadata = metadata_of(caught.value)
    assert metadata["current_version"] == metadata["actual_version"] == str(version + 1)
    assert metadata["finding_0"] == "VERSION_CONFLICT:"
    assert await stream_version(stack.store, fund) == version + 1


async def test_errors_are_reported_at_the_current_version_not_a_cached_one(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    await stack.api.PreviewReallocation(
        pb.PreviewReallocationRequest(fund_id=fund, expected_version=version)
    )
    await stack.store.AppendToStream(
        es.AppendToStreamRequest(
            stream_id=fund, events=[event_data("CAPITAL_CALLED", {"amount_cents": 1})]
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.CommitReallocation(commit_request(fund, version, ("gamma", 10**12)))
    # The fund moved on: a version conflict (re-preview), not a cap error at a stale version.
    assert caught.value.code() == grpc.StatusCode.ABORTED
    metadata = metadata_of(caught.value)
    assert metadata["current_version"] == str(version + 1)
    assert metadata["finding_0"] == "CAP_EXCEEDED:gamma"
    assert metadata["finding_1"] == "VERSION_CONFLICT:"


async def test_a_commit_without_who_or_why_is_invalid(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    for fields, field in [({"user_id": ""}, "user_id"), ({"reason": " "}, "reason")]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.CommitReallocation(commit_request(fund, version, ("acme", 1), **fields))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert metadata_of(caught.value)["field"] == field
    assert await stream_version(stack.store, fund) == version


async def test_a_commit_changing_nothing_records_only_the_audit_event(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    response = await stack.api.CommitReallocation(
        commit_request(fund, version, ("acme", 100_000_000), reason="confirmed as is")
    )
    assert list(response.changes) == []
    assert response.new_version == version + 1
    [audit] = await read_from(stack.store, fund, version + 1)
    assert audit.event_type == "REALLOCATION_COMMITTED"
    assert json.loads(audit.data)["changes"] == []
