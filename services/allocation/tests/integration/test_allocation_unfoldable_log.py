"""A fund log that cannot be folded is DATA_LOSS for that fund only (docs/errors.md).

The damage is done the way it happens in production: directly in the event store's table (a
row edited or removed by hand, a partial restore, retention), never through its API, which
validates every append.
"""

from __future__ import annotations

import grpc
import pytest
from allocation_stack import Stack
from allocation_support import (
    Company,
    event_data,
    metadata_of,
    new_fund,
    proposals,
    reason_of,
    seed_fund,
)
from fundledger.allocation.v1 import allocation_pb2 as pb
from fundledger.eventstore.v1 import eventstore_pb2 as es

from tests.support.event_rows import delete_event

PORTFOLIO = [Company("a", planned=100), Company("b", planned=200)]


def preview_request(fund: str, version: int) -> pb.PreviewReallocationRequest:
    return pb.PreviewReallocationRequest(
        fund_id=fund, expected_version=version, proposals=proposals(("a", 150))
    )


async def test_an_unreadable_payload_is_data_loss_and_other_funds_still_preview(
    stack: Stack,
) -> None:
    damaged, healthy = new_fund(), new_fund()
    version = await seed_fund(stack.store, damaged, PORTFOLIO)
    healthy_version = await seed_fund(stack.store, healthy, PORTFOLIO)
    # Version 2 is COMPANY_ADDED "a"; a number where its schema has a string id.
    await stack.store_db.execute(
        "UPDATE eventstore.events SET data = jsonb_set(data, '{company_id}', '42') "
        "WHERE stream_id = $1 AND version = 2",
        damaged,
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.PreviewReallocation(preview_request(damaged, version))

    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert reason_of(caught.value) == "FUND_EVENT_UNREADABLE"
    metadata = metadata_of(caught.value)
    assert (metadata["fund_id"], metadata["version"]) == (damaged, "2")
    assert metadata["event_type"] == "COMPANY_ADDED"
    response = await stack.api.PreviewReallocation(preview_request(healthy, healthy_version))
    assert response.current_version == healthy_version
    assert response.commit_allowed


async def test_a_gap_is_data_loss_and_the_cached_view_is_dropped(stack: Stack) -> None:
    fund = new_fund()
    version = await seed_fund(stack.store, fund, PORTFOLIO)
    await stack.api.PreviewReallocation(preview_request(fund, version))
    assert stack.allocation.views.cached_at(fund, version) is not None
    await stack.store.AppendToStream(
        es.AppendToStreamRequest(
            stream_id=fund,
            events=[
                event_data("CAPITAL_CALLED", {"amount_cents": 1}),
                event_data("CAPITAL_CALLED", {"amount_cents": 2}),
            ],
        )
    )
    # The first of them vanishes (retention, a partial restore): the next read skips a version.
    await delete_event(stack.store_db, fund, version + 1)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.api.PreviewReallocation(preview_request(fund, version + 2))

    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    assert reason_of(caught.value) == "FUND_LOG_GAP"
    metadata = metadata_of(caught.value)
    assert (metadata["fund_id"], metadata["version"]) == (fund, str(version + 1))
    # Dropped, so a repaired log is re-read whole instead of failing against this base forever.
    assert stack.allocation.views.cached_at(fund, version) is None
