"""Idempotent commits: the same key and request replay the original result; events once."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from allocation_stack import Stack
from allocation_support import (
    Company,
    metadata_of,
    new_fund,
    proposals,
    read_from,
    reason_of,
    seed_fund,
    stream_version,
)
from fundledger.allocation.v1 import allocation_pb2 as pb

PORTFOLIO = [Company("a", "A", planned=100), Company("b", "B", planned=200)]


def keyed(
    fund: str, version: int, key: str, *amounts: tuple[str, int]
) -> pb.CommitReallocationRequest:
    return pb.CommitReallocationRequest(
        fund_id=fund,
        expected_version=version,
        proposals=proposals(*amounts),
        reason="rebalance",
        user_id="alice",
        idempotency_key=key,
    )


async def test_a_retry_replays_the_original_result_and_writes_nothing(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    request = keyed(fund, version, "k-1", ("a", 150), ("b", 50))

    first = await stack.api.CommitReallocation(request)
    retry = await stack.api.CommitReallocation(request)

    assert not first.replayed
    assert retry.replayed
    for field in ("changes", "totals", "findings", "baseline_version", "new_version"):
        assert getattr(retry, field) == getattr(first, field), field
    assert await stream_version(stack.store, fund) == first.new_version == version + 3


async def test_a_retry_replays_even_after_later_commits(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    request = keyed(fund, version, "k-late", ("a", 1))
    first = await stack.api.CommitReallocation(request)
    later = await stack.api.CommitReallocation(keyed(fund, first.new_version, "k-other", ("b", 2)))

    retry = await stack.api.CommitReallocation(request)

    assert retry.replayed
    assert retry.new_version == first.new_version
    assert await stream_version(stack.store, fund) == later.new_version


async def test_identical_keyed_commits_at_once_append_once(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    request = keyed(fund, version, "k-twice", ("a", 42))

    results = await asyncio.gather(
        stack.api.CommitReallocation(request), stack.api.CommitReallocation(request)
    )

    assert sorted(r.replayed for r in results) == [False, True]
    assert {r.new_version for r in results} == {version + 2}
    assert len(await read_from(stack.store, fund, version + 1)) == 2


async def test_a_key_reused_for_another_request_is_refused(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    first = await stack.api.CommitReallocation(keyed(fund, version, "k-reuse", ("a", 1)))

    for request in (
        keyed(fund, version, "k-reuse", ("a", 2)),  # same baseline, other amount
        keyed(fund, first.new_version, "k-reuse", ("b", 3)),  # a new commit, old key
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.api.CommitReallocation(request)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # Forwarded as the store refused it: its reason, and its code for the record.
        assert reason_of(caught.value) == "IDEMPOTENCY_KEY_REUSED"
        assert metadata_of(caught.value)["eventstore_code"] == "FAILED_PRECONDITION"
    assert await stream_version(stack.store, fund) == first.new_version


async def test_without_a_key_a_retry_is_a_conflict_not_a_second_write(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    request = keyed(fund, version, "", ("a", 9))
    first = await stack.api.CommitReallocation(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.CommitReallocation(request)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert await stream_version(stack.store, fund) == first.new_version
